/*
 * tools/bench/scale.c - section 5: scale.
 *
 *  - 1,000,000 slots: initialisation rate, bytes per slot, and one batch
 *    that switches all of them (membarrier, and trampoline, whose per-slot
 *    stub and per-thread copies are the expensive layout);
 *  - 100,000 live blocks of mixed sizes: allocation and free rates,
 *    metadata bytes per block, fragmentation after churn;
 *  - block free, retirement and heap destruction with a million live
 *    slots: each asks whether a slot targets the block (an index of
 *    targeted blocks, src/slot/slot.c), a cost that must not grow with
 *    the number of slots;
 *  - the remap-before-reuse step: allocation of fresh versus recycled
 *    space, and the raw system calls it is made of, next to mprotect (the
 *    other way to drop an emulator's stale translation).
 * Each figure is measured over a whole loop (one repetition per run at
 * this size; the loops are long enough that timer noise does not matter).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double rate(size_t n, uint64_t ns) { return (double)n / ((double)ns / 1e9); }

/* ---- a million slots ------------------------------------------------------ */

static void slots_at_scale(enum cmodx_strategy s, size_t n)
{
    cmodx_heap *h;
    die_on(cmodx_heap_create(NULL, &h), "cmodx_heap_create");
    cmodx_block a = make_ret_block(h, 1), b = make_ret_block(h, 2);
    struct cmodx_domain_config dc = {.strategy = s, .heap = h,
                                     .max_trampoline_slots = (uint32_t)n};
    cmodx_domain *d;
    uint64_t t0 = now_ns();
    if (cmodx_domain_create(&dc, &d) != 0) {
        table_row("%s|%zu|unavailable: %s|-|-|-|-", cmodx_strategy_name(s), n,
                  cmodx_last_error());
        cmodx_heap_destroy(h);
        return;
    }
    uint64_t t_create = now_ns() - t0;
    cmodx_thread *self;
    t0 = now_ns();
    die_on(cmodx_thread_register(d, &self), "cmodx_thread_register");
    uint64_t t_reg = now_ns() - t0;
    cmodx_slot *slots = calloc(n, sizeof *slots);
    if (!slots)
        die_on(ENOMEM, "calloc");
    t0 = now_ns();
    for (size_t i = 0; i < n; i++)
        die_on(cmodx_slot_init(d, &slots[i], a.exec), "cmodx_slot_init");
    uint64_t t_init = now_ns() - t0;
    t0 = now_ns();
    cmodx_batch *bt;
    die_on(cmodx_batch_begin(d, &bt), "cmodx_batch_begin");
    for (size_t i = 0; i < n; i++)
        die_on(cmodx_batch_add(bt, &slots[i], b.exec, b.size, 0), "cmodx_batch_add");
    die_on(cmodx_batch_commit(bt, NULL), "cmodx_batch_commit");
    uint64_t t_batch = now_ns() - t0;
    /* A call through every slot: trampoline copies now point at stubs, so
     * this is each slot's first-call resync. */
    uint64_t sum = 0;
    t0 = now_ns();
    for (size_t i = 0; i < n; i++)
        sum += CMODX_CALL(ret_fn, &slots[i], self);
    uint64_t t_call = now_ns() - t0;
    if (sum != 2 * (uint64_t)n)
        fprintf(stderr, "cmodx-bench: %zu slots returned %llu, expected %llu\n", n,
                (unsigned long long)sum, 2ull * n);
    /* Bytes per slot: the slot itself, plus (trampoline) its stub and one
     * copy per registered thread. */
    size_t per_slot = sizeof(cmodx_slot);
    char extra[96] = "";
    if (s == CMODX_SYNC_TRAMPOLINE)
        snprintf(extra, sizeof extra, " + stub + %zu/thread", sizeof(void *));
    table_row("%s|%zu|%zu%s|%.2f ms + reg %.2f ms|%.0f|%.0f|%.1f", cmodx_strategy_name(s), n,
              per_slot, extra, (double)t_create / 1e6, (double)t_reg / 1e6, rate(n, t_init),
              rate(n, t_batch), (double)t_call / (double)n);
    for (size_t i = 0; i < n; i++)
        cmodx_slot_fini(&slots[i]);
    die_on(cmodx_domain_destroy(d), "cmodx_domain_destroy");
    free(slots);
    cmodx_heap_destroy(h);
}

/* ---- blocks ------------------------------------------------------------- */

static size_t random_size(void) { return 16 + xorshift() % 300; } /* 1..5 granules of 64 */

/* Operations are timed in chunks of CHUNK: the median chunk gives a rate
 * that a few preemptions by other processes do not move, the best chunk
 * the undisturbed rate. */
#define CHUNK 500

struct rate_fig {
    double median, best; /* operations per second */
};

struct chunks {
    struct samples ns_per_op;
    uint64_t t0;
    size_t in_chunk;
};

static void chunk_tick(struct chunks *c)
{
    if (++c->in_chunk == CHUNK) {
        uint64_t t = now_ns();
        samples_add(&c->ns_per_op, (double)(t - c->t0) / CHUNK);
        c->t0 = t;
        c->in_chunk = 0;
    }
}

static struct rate_fig chunk_rate(struct chunks *c)
{
    struct summary s;
    struct rate_fig r = {0, 0};
    summarize(c->ns_per_op.v, c->ns_per_op.n, &s);
    if (s.n) {
        r.median = 1e9 / s.median;
        r.best = 1e9 / s.min;
    }
    samples_free(&c->ns_per_op);
    return r;
}

struct blocks_result {
    struct rate_fig alloc_fresh, free_rate, alloc_recycled, churn;
    double meta_per_block, overhead_ratio;
    struct cmodx_heap_stats after_fill, after_churn;
    uint64_t remaps_recycled;
};

static struct rate_fig alloc_all(cmodx_heap *h, cmodx_xptr *x, size_t n)
{
    struct chunks c = {.t0 = now_ns()};
    for (size_t i = 0; i < n; i++) {
        cmodx_block b;
        die_on(cmodx_block_alloc(h, random_size(), &b), "cmodx_block_alloc");
        x[i] = b.exec;
        chunk_tick(&c);
    }
    return chunk_rate(&c);
}

static void shuffle(cmodx_xptr *x, size_t n)
{
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = xorshift() % (i + 1);
        cmodx_xptr t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

static void blocks_at_scale(size_t n, size_t churn_ops, struct blocks_result *r)
{
    cmodx_heap *h;
    die_on(cmodx_heap_create(NULL, &h), "cmodx_heap_create");
    cmodx_xptr *x = calloc(n, sizeof *x);
    if (!x)
        die_on(ENOMEM, "calloc");
    r->alloc_fresh = alloc_all(h, x, n);
    cmodx_heap_get_stats(h, &r->after_fill);
    r->meta_per_block = (double)r->after_fill.metadata_bytes / (double)n;
    r->overhead_ratio = (double)r->after_fill.mapped_bytes / (double)r->after_fill.live_bytes;

    shuffle(x, n);
    struct chunks c = {.t0 = now_ns()};
    for (size_t i = 0; i < n; i++) {
        die_on(cmodx_block_free(h, x[i]), "cmodx_block_free");
        chunk_tick(&c);
    }
    r->free_rate = chunk_rate(&c);

    struct cmodx_heap_stats before;
    cmodx_heap_get_stats(h, &before);
    r->alloc_recycled = alloc_all(h, x, n);
    struct cmodx_heap_stats after;
    cmodx_heap_get_stats(h, &after);
    r->remaps_recycled = after.remaps - before.remaps;

    c.t0 = now_ns();
    for (size_t i = 0; i < churn_ops; i++) {
        size_t k = xorshift() % n;
        die_on(cmodx_block_free(h, x[k]), "cmodx_block_free");
        cmodx_block b;
        die_on(cmodx_block_alloc(h, random_size(), &b), "cmodx_block_alloc");
        x[k] = b.exec;
        chunk_tick(&c);
    }
    r->churn = chunk_rate(&c);
    cmodx_heap_get_stats(h, &r->after_churn);
    free(x);
    cmodx_heap_destroy(h);
}

/* ---- block lifecycle with live slots ------------------------------------------ */

struct targeted_result {
    struct rate_fig free_none, free_live, refused, retire;
    double destroy_ms, destroy_none_ms;
    size_t targets;
};

/* N blocks of H allocated into X, then freed, timed per chunk. */
static struct rate_fig free_all(cmodx_heap *h, cmodx_xptr *x, size_t n)
{
    alloc_all(h, x, n);
    struct chunks c = {.t0 = now_ns()};
    for (size_t i = 0; i < n; i++) {
        die_on(cmodx_block_free(h, x[i]), "cmodx_block_free");
        chunk_tick(&c);
    }
    return chunk_rate(&c);
}

/* A heap of N blocks (none targeted) destroyed: ms. */
static double destroy_ms(cmodx_xptr *x, size_t n)
{
    cmodx_heap *h2;
    die_on(cmodx_heap_create(NULL, &h2), "cmodx_heap_create");
    alloc_all(h2, x, n);
    uint64_t t0 = now_ns();
    die_on(cmodx_heap_destroy(h2), "cmodx_heap_destroy");
    return (double)(now_ns() - t0) / 1e6;
}

/* NSLOTS initialised slots (epoch domain, no kernel facility needed),
 * spread over NSLOTS/10 target blocks; then NOPS blocks that no slot
 * targets freed, retired, and a heap of NOPS blocks destroyed, each next
 * to the same with no live slot. */
static void targeted_at_scale(size_t nslots, size_t nops, struct targeted_result *r)
{
    cmodx_heap *h;
    die_on(cmodx_heap_create(NULL, &h), "cmodx_heap_create");
    cmodx_xptr *x = calloc(nops, sizeof *x);
    size_t ntargets = nslots / 10 ? nslots / 10 : 1;
    cmodx_xptr *t = calloc(ntargets, sizeof *t);
    cmodx_slot *slots = calloc(nslots, sizeof *slots);
    if (!x || !t || !slots)
        die_on(ENOMEM, "calloc");
    r->targets = ntargets;
    r->free_none = free_all(h, x, nops);
    r->destroy_none_ms = destroy_ms(x, nops);

    struct cmodx_domain_config dc = {.strategy = CMODX_SYNC_EPOCH, .heap = h};
    cmodx_domain *d;
    die_on(cmodx_domain_create(&dc, &d), "cmodx_domain_create");
    for (size_t i = 0; i < ntargets; i++)
        t[i] = make_ret_block(h, 1).exec;
    for (size_t i = 0; i < nslots; i++)
        die_on(cmodx_slot_init(d, &slots[i], t[i % ntargets]), "cmodx_slot_init");

    r->free_live = free_all(h, x, nops);
    /* A targeted block: refused (EBUSY), nothing freed. */
    struct chunks c = {.t0 = now_ns()};
    for (size_t i = 0; i < nops; i++) {
        if (cmodx_block_free(h, t[i % ntargets]) != EBUSY)
            die_on(EINVAL, "cmodx_block_free of a targeted block was not refused");
        chunk_tick(&c);
    }
    r->refused = chunk_rate(&c);
    /* Retirement: queued, then one grace period frees them all. */
    alloc_all(h, x, nops);
    c = (struct chunks){.t0 = now_ns()};
    for (size_t i = 0; i < nops; i++) {
        die_on(cmodx_retire(d, x[i]), "cmodx_retire");
        chunk_tick(&c);
    }
    r->retire = chunk_rate(&c);
    die_on(cmodx_synchronize(d, 0), "cmodx_synchronize");
    r->destroy_ms = destroy_ms(x, nops);

    for (size_t i = 0; i < nslots; i++)
        cmodx_slot_fini(&slots[i]);
    die_on(cmodx_domain_destroy(d), "cmodx_domain_destroy");
    die_on(cmodx_heap_destroy(h), "cmodx_heap_destroy");
    free(slots);
    free(t);
    free(x);
}

/* ---- the raw cost of the remap step ------------------------------------------ */

struct raw_costs {
    struct summary remap_ns, mprotect_ns, make_visible_ns;
};

/* REPS repetitions of ITERS calls of step K; ns per call. */
static void raw_step(int k, int fd, void *x, size_t page, const cmodx_block *b, int reps,
                     int iters, struct summary *out)
{
    struct samples v = {0};
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < iters; i++) {
            if (k == 0) {
                if (mmap(x, page, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED, fd, 0) ==
                    MAP_FAILED)
                    die_on(errno, "mmap(MAP_FIXED)");
            } else if (k == 1) {
                mprotect(x, page, PROT_READ);
                mprotect(x, page, PROT_READ | PROT_EXEC);
            } else {
                cmodx_make_visible(b->exec, b->size);
            }
        }
        samples_add(&v, (double)(now_ns() - t0) / iters);
    }
    summarize(v.v, v.n, out);
    samples_free(&v);
}

static void raw_costs(int reps, struct raw_costs *rc)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    int fd = memfd_create("cmodx-bench", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)page) != 0)
        die_on(errno, "memfd_create");
    void *x = mmap(NULL, page, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    if (x == MAP_FAILED)
        die_on(errno, "mmap");
    cmodx_heap *h;
    die_on(cmodx_heap_create(NULL, &h), "cmodx_heap_create");
    cmodx_block b = make_ret_block(h, 1);
    raw_step(0, fd, x, page, &b, reps, 100, &rc->remap_ns);
    raw_step(1, fd, x, page, &b, reps, 100, &rc->mprotect_ns);
    raw_step(2, fd, x, page, &b, reps, 100, &rc->make_visible_ns);
    cmodx_heap_destroy(h);
    munmap(x, page);
    close(fd);
}

void bench_scale(void)
{
    section_begin(5, "Scale: a million slots, 100,000 live blocks");
    size_t nslots = opt.quick ? 10000 : 1000000;
    size_t nblocks = opt.quick ? 5000 : 100000;
    size_t churn = opt.quick ? 5000 : 300000;

    note("%zu slots, one registered thread (the writer); rates in operations per second, "
         "one timed loop each.  batch = one cmodx_batch_commit switching every slot; "
         "first call = one call through each slot afterwards (trampoline: each goes "
         "through its stub once).", nslots);
    table_begin("strategy|slots|bytes/slot|domain create|slot_init/s|batch switch slots/s|"
                "first call ns");
    slots_at_scale(CMODX_SYNC_MEMBARRIER, nslots);
    slots_at_scale(CMODX_SYNC_EPOCH, nslots);
    slots_at_scale(CMODX_SYNC_TRAMPOLINE, nslots);
    table_end();

    struct blocks_result r;
    blocks_at_scale(nblocks, churn, &r);
    note("%zu live blocks of 16..315 bytes (uniform; rounded to the %zu-byte granule), "
         "default 1 MiB chunks; then all freed in random order; then all allocated again "
         "(recycled space: execute view remapped before reuse); then %zu random "
         "free+alloc pairs (churn).  Rates from chunks of %d operations: the median chunk "
         "and the best.", nblocks, r.after_fill.alignment,
         churn, CHUNK);
    table_begin("figure|median chunk|best chunk");
    table_row("alloc/s, fresh space|%.0f|%.0f", r.alloc_fresh.median, r.alloc_fresh.best);
    table_row("free/s (trap fill + make visible + remap)|%.0f|%.0f", r.free_rate.median,
              r.free_rate.best);
    table_row("alloc/s, recycled space (remap first)|%.0f|%.0f", r.alloc_recycled.median,
              r.alloc_recycled.best);
    table_row("churn free+alloc pairs/s|%.0f|%.0f", r.churn.median, r.churn.best);
    table_end();
    table_begin("figure|value");
    table_row("remaps during recycled allocation|%llu", (unsigned long long)r.remaps_recycled);
    table_row("metadata bytes per live block|%.1f", r.meta_per_block);
    table_row("mapped / live bytes after fill|%.3f", r.overhead_ratio);
    struct cmodx_heap_stats *c = &r.after_churn;
    table_row("after churn: mapped MiB|%.2f", (double)c->mapped_bytes / 1048576.0);
    table_row("after churn: live MiB|%.2f", (double)c->live_bytes / 1048576.0);
    table_row("after churn: free runs|%zu", c->free_runs);
    table_row("after churn: free bytes / mapped|%.3f",
              (double)c->free_bytes / (double)c->mapped_bytes);
    table_row("after churn: mean free run bytes|%.0f",
              c->free_runs ? (double)c->free_bytes / (double)c->free_runs : 0.0);
    table_row("after churn: metadata bytes per live block|%.1f",
              (double)c->metadata_bytes / (double)c->live_blocks);
    table_end();

    struct raw_costs rc;
    int reps = opt.quick ? 5 : 300;
    raw_costs(reps, &rc);
    note("The remap-before-reuse step and its alternatives, one page, %d repetitions of 100 "
         "calls (best and median repetition): mmap(MAP_FIXED) of the memfd over its execute "
         "view (what cmodx does), an mprotect(PROT_READ) + mprotect(PROT_READ|PROT_EXEC) pair, "
         "and cmodx_make_visible() (on x86-64: one serialising instruction; CPUID traps to the "
         "hypervisor in a VM).", reps);
    table_begin("step|ns best|ns median");
    table_row("mmap MAP_FIXED remap (1 page)|%.0f|%.0f", rc.remap_ns.min, rc.remap_ns.median);
    table_row("mprotect R then RX (1 page)|%.0f|%.0f", rc.mprotect_ns.min, rc.mprotect_ns.median);
    table_row("cmodx_make_visible (1 block)|%.0f|%.0f", rc.make_visible_ns.min,
              rc.make_visible_ns.median);
    table_row("free, whole (from the rates above)|%.0f|%.0f", 1e9 / r.free_rate.best,
              1e9 / r.free_rate.median);
    table_row("recycled alloc minus fresh alloc|%.0f|%.0f",
              1e9 / r.alloc_recycled.best - 1e9 / r.alloc_fresh.best,
              1e9 / r.alloc_recycled.median - 1e9 / r.alloc_fresh.median);
    table_end();

    struct targeted_result tr;
    size_t nops = opt.quick ? 2000 : 20000;
    targeted_at_scale(nslots, nops, &tr);
    note("Every free and retirement asks whether an initialised slot (of any domain) targets "
         "the block: one lookup in an index of targeted blocks, whatever the number of slots. "
         "%zu blocks no slot targets, freed, then retired (cmodx_retire: no thread is "
         "registered, so each grace period ends at once and the writer side frees the block "
         "within its calls), and a second heap of %zu blocks destroyed: first "
         "with no slot, then with %zu initialised slots (epoch domain) targeting %zu blocks.  "
         "Rates from chunks of %d operations: the median chunk and the best.",
         nops, nops, nslots, tr.targets, CHUNK);
    table_begin("with live slots|median chunk|best chunk");
    table_row("free/s, no live slot|%.0f|%.0f", tr.free_none.median, tr.free_none.best);
    table_row("free/s, %zu live slots|%.0f|%.0f", nslots, tr.free_live.median,
              tr.free_live.best);
    table_row("refused free/s (EBUSY: a slot targets the block)|%.0f|%.0f", tr.refused.median,
              tr.refused.best);
    table_row("cmodx_retire/s, %zu live slots|%.0f|%.0f", nslots, tr.retire.median,
              tr.retire.best);
    table_end();
    table_begin("with live slots|ms");
    table_row("cmodx_heap_destroy, %zu blocks, no live slot|%.2f", nops, tr.destroy_none_ms);
    table_row("cmodx_heap_destroy, %zu blocks, %zu live slots|%.2f", nops, nslots,
              tr.destroy_ms);
    table_end();
}
