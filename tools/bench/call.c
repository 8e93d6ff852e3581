/*
 * tools/bench/call.c - section 1: the call path.
 *
 * Every variant calls the SAME generated function (cmodx_emit_return_u32 in
 * the code heap), so the only difference between them is how the target is
 * found: a function pointer in a register (the floor: the compiler cannot
 * see through it, so it cannot inline or fold the call), the slot load, the
 * slot load plus the epoch check, or the per-thread trampoline copy.  A
 * call to an ordinary compiled noinline function is shown too.
 *
 * Each loop is its own noinline function so the compiler treats them alike;
 * the variants are interleaved within every repetition (in rotating order)
 * so that frequency drift and noise hit them equally, and the thread is
 * pinned to one CPU.  Ratios are taken per repetition (paired) and then
 * summarised, which cancels most of the run-to-run drift.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "bench.h"

enum { V_COMPILED, V_DIRECT, V_PLAIN, V_EPOCH, V_TRAMP, V_DISPATCH, NVAR };

static const char *const var_name[NVAR] = {
    [V_COMPILED] = "compiled function (call rel32)",
    [V_DIRECT] = "direct (JIT block, fn pointer)",
    [V_PLAIN] = "slot (plain load)",
    [V_EPOCH] = "slot + epoch check",
    [V_TRAMP] = "slot (per-thread trampoline)",
    [V_DISPATCH] = "CMODX_CALL (dispatching)",
};

__attribute__((noinline)) static uint32_t compiled_fn(void)
{
    __asm__ volatile(""); /* keep the call: the function has a "side effect" */
    return 7;
}

__attribute__((noinline, aligned(64))) static uint64_t loop_compiled(uint64_t n)
{
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += compiled_fn();
    return s;
}

__attribute__((noinline, aligned(64))) static uint64_t loop_direct(ret_fn f, uint64_t n)
{
    uint64_t s = 0;
    __asm__ volatile("" : "+r"(f)); /* the compiler may not know the target */
    for (uint64_t i = 0; i < n; i++)
        s += f();
    return s;
}

__attribute__((noinline, aligned(64))) static uint64_t loop_plain(const cmodx_slot *slot, uint64_t n)
{
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += xptr_fn(cmodx_slot_target_plain(slot))();
    return s;
}

__attribute__((noinline, aligned(64))) static uint64_t loop_epoch(const cmodx_slot *slot, cmodx_thread *self,
                                                     uint64_t n)
{
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += xptr_fn(cmodx_slot_target_epoch(slot, self))();
    return s;
}

__attribute__((noinline, aligned(64))) static uint64_t loop_tramp(const cmodx_slot *slot, cmodx_thread *self,
                                                     uint64_t n)
{
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += xptr_fn(cmodx_slot_target_trampoline(slot, self))();
    return s;
}

__attribute__((noinline, aligned(64))) static uint64_t loop_dispatch(const cmodx_slot *slot,
                                                        cmodx_thread *self, uint64_t n)
{
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += CMODX_CALL(ret_fn, slot, self);
    return s;
}

struct call_env {
    ret_fn direct;
    cmodx_slot *plain, *epoch, *tramp;
    cmodx_thread *self_plain, *self_epoch, *self_tramp;
};

static uint64_t run_variant(const struct call_env *e, int v, uint64_t n)
{
    switch (v) {
    case V_COMPILED: return loop_compiled(n);
    case V_DIRECT: return loop_direct(e->direct, n);
    case V_PLAIN: return loop_plain(e->plain, n);
    case V_EPOCH: return loop_epoch(e->epoch, e->self_epoch, n);
    case V_TRAMP: return loop_tramp(e->tramp, e->self_tramp, n);
    default: return loop_dispatch(e->plain, e->self_plain, n);
    }
}

static cmodx_domain *domain_for(enum cmodx_strategy s, cmodx_slot *slot, cmodx_xptr code,
                                cmodx_thread **self)
{
    cmodx_domain *d;
    struct cmodx_domain_config dc = {.strategy = s};
    die_on(cmodx_domain_create(&dc, &d), "cmodx_domain_create");
    die_on(cmodx_slot_init(d, slot, code), "cmodx_slot_init");
    die_on(cmodx_thread_register(d, self), "cmodx_thread_register");
    return d;
}

void bench_call_path(void)
{
    section_begin(1, "Call path: nanoseconds per call");
    cmodx_heap *h;
    die_on(cmodx_heap_create(NULL, &h), "cmodx_heap_create");
    cmodx_block b = make_ret_block(h, 7);
    static cmodx_slot s_plain, s_epoch, s_tramp;
    struct call_env e = {.direct = xptr_fn(b.exec.ptr), .plain = &s_plain, .epoch = &s_epoch,
                         .tramp = &s_tramp};
    /* membarrier may be missing (sandbox); the plain load is the same for
     * signal and mprotect, so fall back to signal for the plain slot. */
    cmodx_domain *dp, *de, *dt;
    struct cmodx_domain_config probe = {.strategy = CMODX_SYNC_MEMBARRIER};
    cmodx_domain *tmp;
    enum cmodx_strategy plain_s = CMODX_SYNC_MEMBARRIER;
    if (cmodx_domain_create(&probe, &tmp) == 0)
        cmodx_domain_destroy(tmp);
    else
        plain_s = CMODX_SYNC_SIGNAL;
    dp = domain_for(plain_s, &s_plain, b.exec, &e.self_plain);
    de = domain_for(CMODX_SYNC_EPOCH, &s_epoch, b.exec, &e.self_epoch);
    dt = domain_for(CMODX_SYNC_TRAMPOLINE, &s_tramp, b.exec, &e.self_tramp);

    /* Many short repetitions (about 2 ms each, shorter than a scheduler
     * time slice): on a shared machine most of them run undisturbed, and
     * the best and the low percentiles show the undisturbed cost. */
    uint64_t n = opt.quick ? 100000 : 1000000;
    int reps = opt.quick ? 5 : (int)(301 * opt.scale);
    if (reps < 5)
        reps = 5;
    /* Warm up: first trampoline call goes through the stub (resync). */
    for (int v = 0; v < NVAR; v++)
        run_variant(&e, v, n / 10 + 1);

    double *ns[NVAR], *ratio[NVAR];
    for (int v = 0; v < NVAR; v++) {
        ns[v] = calloc((size_t)reps, sizeof(double));
        ratio[v] = calloc((size_t)reps, sizeof(double));
    }
    uint64_t check = 0;
    for (int r = 0; r < reps; r++) {
        for (int k = 0; k < NVAR; k++) {
            int v = (k + r) % NVAR;
            uint64_t t0 = now_ns();
            check += run_variant(&e, v, n);
            ns[v][r] = (double)(now_ns() - t0) / (double)n;
        }
        for (int v = 0; v < NVAR; v++)
            ratio[v][r] = ns[v][r] / ns[V_DIRECT][r];
    }
    if (check != (uint64_t)reps * NVAR * n * 7)
        fprintf(stderr, "cmodx-bench: call path returned wrong values (%llu)\n",
                (unsigned long long)check);

    note("%d repetitions of %llu calls per variant, interleaved (rotating order); "
         "best = fastest repetition (the undisturbed cost), p10 and median over repetitions; "
         "ratio = best / best of the direct call; paired = per-repetition ratio to the direct "
         "call of the same repetition, median (p10..p90).", reps, (unsigned long long)n);
    table_begin("variant|ns/call best|p10|median|ratio (best)|paired median|paired p10..p90");
    struct summary sd;
    summarize(ns[V_DIRECT], (size_t)reps, &sd);
    for (int v = 0; v < NVAR; v++) {
        struct summary s, q;
        summarize(ns[v], (size_t)reps, &s);
        summarize(ratio[v], (size_t)reps, &q);
        double p10 = ns[v][reps / 10], q10 = ratio[v][reps / 10], q90 = ratio[v][reps * 9 / 10];
        table_row("%s|%.3f|%.3f|%.3f|%.3fx|%.3fx|%.3f..%.3f", var_name[v], s.min, p10, s.median,
                  s.min / sd.min, q.median, q10, q90);
        data_line("call", "%d \"%s\" %.4f %.4f %.4f", v, var_name[v], s.min, p10, s.median);
        /* A zero time (a clock too coarse, as under some emulators) gives
         * no ratio; the smoke test then fails (see bench.c). */
        if ((v == V_PLAIN || v == V_EPOCH || v == V_TRAMP) && s.min > 0 && sd.min > 0) {
            printf("  ratio %s / direct = %.3f (best), %.3f (paired median)\n", var_name[v],
                   s.min / sd.min, q.median);
            ratios_printed++;
        }
        free(ns[v]);
        free(ratio[v]);
    }
    table_end();
    /* Slots first: a domain with live slots is not destroyed (EBUSY). */
    cmodx_slot_fini(&s_plain);
    cmodx_slot_fini(&s_epoch);
    cmodx_slot_fini(&s_tramp);
    die_on(cmodx_domain_destroy(dp), "cmodx_domain_destroy");
    die_on(cmodx_domain_destroy(de), "cmodx_domain_destroy");
    die_on(cmodx_domain_destroy(dt), "cmodx_domain_destroy");
    cmodx_heap_destroy(h);
}
