/*
 * tools/torture/main.c - cmodx-torture: set up, run, watch, summarise.
 * docs/TORTURE.md describes what it checks and how to read its output.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "torture.h"

struct torture T;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void on_free(void *arg, cmodx_xptr block)
{
    (void)arg;
    history_note_free((uintptr_t)block.ptr);
    __atomic_fetch_add(&T.freed_blocks, 1, __ATOMIC_RELAXED);
}

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

/* The heap must hold every slot's live block, the blocks being written
 * and some retired ones, or writers would wait forever. */
static int check_heap_fits(void)
{
    struct cmodx_heap_stats hs;
    cmodx_heap_get_stats(T.heap, &hs);
    size_t need = (size_t)(T.opt.slots + 8 * T.opt.writers) * round_up(T.opt.block_max,
                                                                        hs.alignment);
    if (need * 2 > T.opt.heap_limit) {
        fprintf(stderr, "cmodx-torture: --heap-limit %zu is too small for %d slots of up to "
                "%zu bytes; use at least %zu\n", T.opt.heap_limit, T.opt.slots,
                T.opt.block_max, need * 2);
        return -1;
    }
    return 0;
}

static int setup(void)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t chunk = T.opt.heap_limit < (256u << 10) ? T.opt.heap_limit : (256u << 10);
    chunk = chunk / (size_t)page * (size_t)page;
    struct cmodx_heap_config hc = {.chunk_bytes = chunk ? chunk : (size_t)page,
                                   .limit_bytes = T.opt.heap_limit};
    if (cmodx_heap_create(&hc, &T.heap) != 0 || check_heap_fits() != 0)
        return -1;
    struct cmodx_domain_config dc = {
        .strategy = (enum cmodx_strategy)cmodx_strategy_parse(T.opt.strategy),
        .heap = T.heap,
        .retired_limit_bytes = T.opt.heap_limit / 2,
        .signal_timeout_ms = 20000, /* emulated threads can be slow to run */
        .signal_number = SIGRTMIN + 4,
    };
    int err = cmodx_domain_create(&dc, &T.dom);
    if (err == ENOTSUP)
        return ENOTSUP;
    if (err != 0 || witness_install(dc.signal_number) != 0)
        return -1;
    cmodx_debug_set_free_hook(T.dom, on_free, NULL);
    /* At most one block starts at each alignment granule of the heap. */
    struct cmodx_heap_stats hs;
    cmodx_heap_get_stats(T.heap, &hs);
    T.slots = calloc((size_t)T.opt.slots, sizeof *T.slots);
    if (!T.slots || history_init(T.opt.heap_limit / hs.alignment + 1) != 0 ||
        trap_install() != 0)
        return -1;
    T.publish_budget = T.opt.publishes;
    int err2 = slots_setup();
    if (err2 == 0 && cells_setup() != 0)
        err2 = -1;
    return err2 == ENOTSUP ? ENOTSUP : err2;
}

static void sum(struct counters *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < T.opt.callers + T.opt.writers; i++) {
        const struct counters *c = &T.thr[i];
        out->calls += __atomic_load_n(&c->calls, __ATOMIC_RELAXED);
        out->invalid += __atomic_load_n(&c->invalid, __ATOMIC_RELAXED);
        out->publishes += __atomic_load_n(&c->publishes, __ATOMIC_RELAXED);
        out->alloc_retries += __atomic_load_n(&c->alloc_retries, __ATOMIC_RELAXED);
        out->writer_calls += __atomic_load_n(&c->writer_calls, __ATOMIC_RELAXED);
        out->newer += __atomic_load_n(&c->newer, __ATOMIC_RELAXED);
        for (int a = 0; a < AGE_BUCKETS; a++)
            out->age[a] += __atomic_load_n(&c->age[a], __ATOMIC_RELAXED);
    }
}

static void progress(double t)
{
    struct counters c;
    struct cmodx_reclaim_stats rs;
    sum(&c);
    cmodx_reclaim_get_stats(T.dom, &rs);
    printf("[%6.1fs] calls %llu, publishes %llu, grace periods %llu, blocks freed %llu, "
           "reused %llu, invalid %llu\n", t, (unsigned long long)c.calls,
           (unsigned long long)c.publishes, (unsigned long long)rs.grace_periods,
           (unsigned long long)__atomic_load_n(&T.freed_blocks, __ATOMIC_RELAXED),
           (unsigned long long)__atomic_load_n(&T.reused_blocks, __ATOMIC_RELAXED),
           (unsigned long long)c.invalid);
    fflush(stdout);
}

/* Sleep until --seconds passed or the publish budget stopped the writers,
 * printing a line each second. */
static void watch(void)
{
    double start = now_s(), next = start + 1;
    struct timespec nap = {0, 50 * 1000 * 1000};
    while (!__atomic_load_n(&T.stop, __ATOMIC_ACQUIRE)) {
        nanosleep(&nap, NULL);
        double t = now_s();
        if (t - start >= T.opt.seconds)
            break;
        if (t >= next) {
            if (!T.opt.quiet)
                progress(t - start);
            next += 1;
        }
    }
    __atomic_store_n(&T.stop, 1, __ATOMIC_RELEASE);
}

static void print_histogram(const struct counters *c)
{
    printf("version age at call (publishes of the slot started before the call and not\n"
           "seen; ages above the publishes in flight are invalid and counted above):\n");
    uint64_t total = c->newer;
    for (int a = 0; a < AGE_BUCKETS; a++)
        total += c->age[a];
    for (int a = 0; a < AGE_BUCKETS; a++)
        if (c->age[a])
            printf("  age %2d%s %12llu  %6.2f%%\n", a, a == AGE_BUCKETS - 1 ? "+" : " ",
                   (unsigned long long)c->age[a], 100.0 * (double)c->age[a] / (double)total);
    printf("  newer   %12llu  %6.2f%%  (published while the call ran)\n",
           (unsigned long long)c->newer, 100.0 * (double)c->newer / (double)(total ? total : 1));
}

static int summary(double elapsed)
{
    struct counters c;
    struct cmodx_reclaim_stats rs;
    struct cmodx_heap_stats hs;
    sum(&c);
    cmodx_reclaim_get_stats(T.dom, &rs);
    cmodx_heap_get_stats(T.heap, &hs);
    printf("summary: %.1f s, strategy %s, %s, seed %llu\n", elapsed,
           cmodx_strategy_name(cmodx_domain_strategy(T.dom)), cmodx_arch_name(),
           (unsigned long long)T.opt.seed);
    printf("  calls %llu, writer self-calls %llu, publishes %llu, grace periods %llu\n",
           (unsigned long long)c.calls, (unsigned long long)c.writer_calls,
           (unsigned long long)c.publishes, (unsigned long long)rs.grace_periods);
    printf("  blocks freed %llu, reused %llu, heap-full waits %llu, exec remaps %llu\n",
           (unsigned long long)T.freed_blocks, (unsigned long long)T.reused_blocks,
           (unsigned long long)c.alloc_retries, (unsigned long long)hs.remaps);
    printf("  invalid observations %llu, publish errors %llu, publish timeouts %llu\n",
           (unsigned long long)c.invalid, (unsigned long long)T.publish_errors,
           (unsigned long long)T.publish_timeouts);
    print_histogram(&c);
    int bad = c.invalid || T.publish_errors || T.failed_setup;
    printf("cmodx-torture: %s\n", bad ? "FAILED" : "passed");
    return bad ? EXIT_INVALID : 0;
}

static int run(void)
{
    pthread_t th[TORTURE_MAX_THREADS];
    int n = 0;
    for (int i = 0; i < T.opt.callers; i++)
        if (pthread_create(&th[n], NULL, caller_main, (void *)(intptr_t)i) == 0)
            n++;
    for (int i = 0; i < T.opt.writers; i++)
        if (pthread_create(&th[n], NULL, writer_main, (void *)(intptr_t)i) == 0)
            n++;
    if (n != T.opt.callers + T.opt.writers) {
        fprintf(stderr, "cmodx-torture: could not start every thread\n");
        T.failed_setup = 1;
    }
    double start = now_s();
    watch();
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    double elapsed = now_s() - start;
    int status = summary(elapsed);
    cells_fini();
    /* Slots first: a domain with live slots is not destroyed (EBUSY).
     * cmodx_slot_fini ignores the slots never initialised (--patch). */
    for (int s = 0; s < T.opt.slots; s++)
        cmodx_slot_fini(&T.slots[s].slot);
    if (cmodx_domain_destroy(T.dom) != 0)
        fprintf(stderr, "cmodx-torture: cmodx_domain_destroy: %s\n", cmodx_last_error());
    cmodx_heap_destroy(T.heap);
    return status;
}

int main(int argc, char **argv)
{
    int r = options_parse(argc, argv, &T.opt);
    if (r != 0)
        return r > 0 ? 0 : EXIT_USAGE;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("cmodx-torture: %s, strategy %s, %d callers, %d writers, %d slots, blocks %zu-%zu "
           "bytes, heap limit %zu, seed %llu\n", cmodx_arch_name(), T.opt.strategy,
           T.opt.callers, T.opt.writers, T.opt.slots, T.opt.block_min, T.opt.block_max,
           T.opt.heap_limit, (unsigned long long)T.opt.seed);
    int err = setup();
    if (err != 0) {
        fprintf(stderr, "cmodx-torture: setup failed: %s\n", cmodx_last_error());
        /* A strategy refused here (ENOTSUP: the mprotect strategy where
         * its premise cannot be established) is not a failure of it. */
        return err == ENOTSUP ? EXIT_UNSUPPORTED : EXIT_SETUP;
    }
    return run();
}
