/*
 * tools/bench/patch.c - section 6: patching in place (docs/PATCHING.md).
 *
 * The call: a compiled function with a patchable entry called directly,
 * next to the same function redirected to another compiled function (the
 * entry's jump, the trampoline's slot load and jump).  The writer: one
 * single-instruction patch (cmodx_patch_insn), a batch of 100 on one page
 * (cmodx_patch_insns), a function-entry redirection that only switches the
 * slot, a restore and redirection (two text patches), next to a slot
 * publish of the same domain (the reference).  One strategy, pinned:
 * membarrier (else signal).  No other thread runs; with threads the
 * synchronisation costs what section 2 shows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

uint32_t bench_patchable(void);
uint32_t bench_patchable_twin(void);
uint32_t bench_version(void);

__attribute__((noinline, aligned(64))) static uint64_t loop_call(ret_fn f, uint64_t n)
{
    uint64_t s = 0;
    __asm__ volatile("" : "+r"(f));
    for (uint64_t i = 0; i < n; i++)
        s += f();
    return s;
}

static cmodx_xptr xfn(ret_fn f)
{
    cmodx_xptr x;
    memcpy(&x.ptr, &f, sizeof x.ptr);
    return x;
}

/* Best and median microseconds per call of OP over REPS repetitions. */
static void time_op(const char *what, int reps, int (*op)(int i, void *arg), void *arg,
                    double per, const char *unit)
{
    double *v = calloc((size_t)reps, sizeof *v);
    for (int i = 0; i < reps; i++) {
        uint64_t t0 = now_ns();
        die_on(op(i, arg), what);
        v[i] = (double)(now_ns() - t0) / 1e3 / per;
    }
    struct summary s;
    summarize(v, (size_t)reps, &s);
    table_row("%s|%.2f|%.2f|%s", what, s.min, s.median, unit);
    free(v);
}

struct env {
    cmodx_domain *d;
    cmodx_slot slot;
    cmodx_xptr v[2];
    struct cmodx_insn_patch p[100];
    uint8_t nop[CMODX_INSN_MAX], jump[100][CMODX_INSN_MAX];
};

static int op_publish(int i, void *a)
{
    struct env *e = a;
    return cmodx_slot_publish(&e->slot, e->v[i & 1], cmodx_emit_return_u32_size(), 0, NULL);
}

static int op_patch_one(int i, void *a)
{
    struct env *e = a;
    return cmodx_patch_insn(e->d, e->p[0].at, (i & 1) ? e->nop : e->jump[0]);
}

static int op_patch_batch(int i, void *a)
{
    struct env *e = a;
    for (int k = 0; k < 100; k++)
        memcpy(e->p[k].insn, (i & 1) ? e->nop : e->jump[k], CMODX_INSN_MAX);
    return cmodx_patch_insns(e->d, e->p, 100);
}

static int op_redirect(int i, void *a)
{
    struct env *e = a;
    return cmodx_entry_redirect(e->d, xfn(bench_patchable),
                                (i & 1) ? xfn(bench_version) : xfn(bench_patchable_twin));
}

static int op_restore_redirect(int i, void *a)
{
    struct env *e = a;
    (void)i;
    int err = cmodx_entry_restore(e->d, xfn(bench_patchable));
    return err ? err : cmodx_entry_redirect(e->d, xfn(bench_patchable), xfn(bench_version));
}

void bench_patch(void)
{
    section_begin(6, "Patching in place: redirected call, patches against a slot publish");
    uint8_t probe[CMODX_INSN_MAX];
    if (cmodx_patch_encode_nop(probe) != 0) {
        note("not measured: %s", cmodx_last_error());
        return;
    }
    cmodx_heap *h;
    die_on(cmodx_heap_create(NULL, &h), "cmodx_heap_create");
    static struct env e;
    struct cmodx_domain_config dc = {.strategy = CMODX_SYNC_MEMBARRIER, .heap = h};
    if (cmodx_domain_create(&dc, &e.d) != 0) {
        dc.strategy = CMODX_SYNC_SIGNAL;
        die_on(cmodx_domain_create(&dc, &e.d), "cmodx_domain_create");
    }
    /* 100 flip sites on as few pages as the heap gives: [0] NOP or a jump
     * to [32]. */
    size_t isz = cmodx_patch_insn_size();
    die_on(cmodx_patch_encode_nop(e.nop), "cmodx_patch_encode_nop");
    for (int k = 0; k < 100; k++) {
        cmodx_block b;
        die_on(cmodx_block_alloc(h, 64, &b), "cmodx_block_alloc");
        memcpy(b.write.ptr, e.nop, isz);
        cmodx_emit_return_u32((cmodx_wptr){(char *)b.write.ptr + isz}, 32 - isz, 1);
        cmodx_emit_return_u32((cmodx_wptr){(char *)b.write.ptr + 32}, 32, 2);
        die_on(cmodx_make_visible(b.exec, 64), "cmodx_make_visible");
        e.p[k].at = b.exec;
        die_on(cmodx_patch_encode_jump(b.exec, (cmodx_xptr){(const char *)b.exec.ptr + 32}, 0,
                                       e.jump[k]),
               "cmodx_patch_encode_jump");
    }
    e.v[0] = make_ret_block(h, 1).exec;
    e.v[1] = make_ret_block(h, 2).exec;
    die_on(cmodx_slot_init(e.d, &e.slot, e.v[0]), "cmodx_slot_init");

    /* The call. */
    int err = cmodx_entry_redirect(e.d, xfn(bench_patchable), xfn(bench_version));
    uint64_t n = opt.quick ? 100000 : 1000000;
    int reps = opt.quick ? 5 : (int)(101 * opt.scale);
    if (reps < 5)
        reps = 5;
    note("strategy %s, no other thread running; %d repetitions", cmodx_strategy_name(dc.strategy),
         reps);
    table_begin("operation|best|median|unit");
    if (err == 0) {
        double *dir = calloc((size_t)reps, sizeof *dir), *red = calloc((size_t)reps, sizeof *red);
        for (int r = 0; r < reps; r++) {
            uint64_t t0 = now_ns();
            loop_call(bench_patchable_twin, n);
            uint64_t t1 = now_ns();
            loop_call(bench_patchable, n);
            uint64_t t2 = now_ns();
            dir[r] = (double)(t1 - t0) / (double)n;
            red[r] = (double)(t2 - t1) / (double)n;
        }
        struct summary sd, sr;
        summarize(dir, (size_t)reps, &sd);
        summarize(red, (size_t)reps, &sr);
        table_row("direct call of a patchable function (not redirected)|%.3f|%.3f|ns/call",
                  sd.min, sd.median);
        table_row("the same, redirected (entry jump, trampoline, slot load)|%.3f|%.3f|ns/call",
                  sr.min, sr.median);
        data_line("patch", "0 \"direct\" %.4f %.4f", sd.min, sd.median);
        data_line("patch", "1 \"redirected\" %.4f %.4f", sr.min, sr.median);
        free(dir);
        free(red);
    }
    int wreps = opt.quick ? 6 : (int)(200 * opt.scale);
    if (wreps < 6)
        wreps = 6;
    time_op("cmodx_slot_publish (reference)", wreps, op_publish, &e, 1, "us");
    time_op("cmodx_patch_insn, one instruction", wreps, op_patch_one, &e, 1, "us");
    time_op("cmodx_patch_insns, batch of 100", wreps / 2 + 1, op_patch_batch, &e, 1, "us/batch");
    time_op("cmodx_patch_insns, batch of 100, per instruction", wreps / 2 + 1, op_patch_batch, &e,
            100, "us");
    if (err == 0) {
        time_op("cmodx_entry_redirect (slot switch only)", wreps, op_redirect, &e, 1, "us");
        time_op("cmodx_entry_restore + redirect (two text patches)", wreps / 2 + 1,
                op_restore_redirect, &e, 1, "us");
    }
    table_end();
    if (err)
        note("function entries not measured: %s", cmodx_last_error());
    cmodx_entry_restore(e.d, xfn(bench_patchable));
    /* The domain and heap stay: the entry's trampoline keeps the last
     * target, and the flip blocks are the heap's. */
}
