/*
 * tools/bench/batch.c - section 3: batch throughput.
 *
 * Slots switched per second when a batch of B slots is committed at once
 * (cmodx_batch_begin + B x cmodx_batch_add + cmodx_batch_commit), for every
 * strategy, with one caller thread calling through the first slots.  Each
 * slot flips between two written blocks, so nothing is rewritten or retired.
 * The point of batches is one cross-thread synchronisation for all B
 * slots: the rate should grow with B until the per-slot work dominates.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_BATCH 10000

struct batch_env {
    cmodx_heap *heap;
    cmodx_domain *d;
    cmodx_slot *slots;
    cmodx_xptr (*code)[2];
    unsigned char *cur;
};

static int env_create(struct batch_env *e, enum cmodx_strategy s, size_t nslots)
{
    memset(e, 0, sizeof *e);
    die_on(cmodx_heap_create(NULL, &e->heap), "cmodx_heap_create");
    struct cmodx_domain_config dc = {.strategy = s, .heap = e->heap,
                                     .max_trampoline_slots = (uint32_t)nslots};
    if (cmodx_domain_create(&dc, &e->d) != 0) {
        cmodx_heap_destroy(e->heap);
        return -1;
    }
    e->slots = calloc(nslots, sizeof *e->slots);
    e->code = calloc(nslots, sizeof *e->code);
    e->cur = calloc(nslots, 1);
    if (!e->slots || !e->code || !e->cur)
        die_on(12, "calloc");
    for (size_t i = 0; i < nslots; i++) {
        e->code[i][0] = make_ret_block(e->heap, (uint32_t)i).exec;
        e->code[i][1] = make_ret_block(e->heap, (uint32_t)i + 1).exec;
        die_on(cmodx_slot_init(e->d, &e->slots[i], e->code[i][0]), "cmodx_slot_init");
    }
    return 0;
}

static void env_destroy(struct batch_env *e, size_t nslots)
{
    for (size_t i = 0; i < nslots; i++)
        cmodx_slot_fini(&e->slots[i]);
    die_on(cmodx_domain_destroy(e->d), "cmodx_domain_destroy");
    cmodx_heap_destroy(e->heap);
    free(e->slots);
    free(e->code);
    free(e->cur);
}

/* Switch slots [0, B) to their other block in one batch; seconds taken. */
static double one_batch(struct batch_env *e, size_t b)
{
    size_t len = cmodx_emit_return_u32_size();
    uint64_t t0 = now_ns();
    cmodx_batch *bt;
    die_on(cmodx_batch_begin(e->d, &bt), "cmodx_batch_begin");
    for (size_t i = 0; i < b; i++) {
        e->cur[i] ^= 1;
        die_on(cmodx_batch_add(bt, &e->slots[i], e->code[i][e->cur[i]], len, 0),
               "cmodx_batch_add");
    }
    die_on(cmodx_batch_commit(bt, NULL), "cmodx_batch_commit");
    return (double)(now_ns() - t0) / 1e9;
}

void bench_batch(void)
{
    section_begin(3, "Batch throughput: slots switched per second");
    static const size_t sizes[] = {1, 10, 100, 1000, 10000};
    double budget = opt.quick ? 0.02 : 0.4 * opt.scale;
    size_t min_reps = opt.quick ? 2 : 7;
    char cn[96];
    note("Time of begin + B adds + commit, one caller thread calling through the first 16 "
         "slots (%s).  Repetitions: at least %zu and %.2f s per cell; spread = min..max of "
         "the per-batch rate.  speedup = median rate / median rate at B=1.",
         cores_note(2, cn, sizeof cn), min_reps, budget);
    table_begin("strategy|batch size|slots/s median|min|max|reps|per slot us|speedup vs B=1");
    /* Every strategy of the library: numbered from 1 up to the first
     * unknown name. */
    for (int k = CMODX_SYNC_AUTO + 1;
         strcmp(cmodx_strategy_name((enum cmodx_strategy)k), "unknown") != 0; k++) {
        enum cmodx_strategy strategy = (enum cmodx_strategy)k;
        struct batch_env e;
        if (env_create(&e, strategy, MAX_BATCH) != 0) {
            table_row("%s|-|n/a|n/a|n/a|0|-|unavailable: %s", cmodx_strategy_name(strategy),
                      cmodx_last_error());
            continue;
        }
        struct callers c = {.domain = e.d, .slots = e.slots, .nslots = 16, .n = 1};
        callers_start(&c);
        double rate1 = 0;
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
            size_t b = sizes[z];
            struct samples rate = {0};
            double spent = 0;
            one_batch(&e, b); /* warm-up */
            while (rate.n < min_reps || (spent < budget && rate.n < 100000)) {
                double sec = one_batch(&e, b);
                spent += sec;
                samples_add(&rate, (double)b / sec);
            }
            struct summary s;
            summarize(rate.v, rate.n, &s);
            if (b == 1)
                rate1 = s.median;
            table_row("%s|%zu|%.0f|%.0f|%.0f|%zu|%.3f|%.1fx", cmodx_strategy_name(strategy),
                      b, s.median, s.min, s.max, s.n, 1e6 / s.median, s.median / rate1);
            char dn[64];
            snprintf(dn, sizeof dn, "batch-%s", cmodx_strategy_name(strategy));
            data_line(dn, "%zu %.1f %.1f %.1f", b, s.median, s.min, s.max);
            samples_free(&rate);
        }
        callers_stop(&c);
        env_destroy(&e, MAX_BATCH);
    }
    table_end();
}
