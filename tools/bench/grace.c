/*
 * tools/bench/grace.c - section 4: grace periods, next to liburcu.
 *
 * Reader side: nanoseconds per cmodx_quiescent() with no grace period
 * pending, next to urcu_qsbr_quiescent_state() and an urcu-memb
 * read_lock/read_unlock pair (liburcu's inline fast paths, _LGPL_SOURCE).
 *
 * Writer side: latency of one cmodx_synchronize(), urcu_qsbr
 * synchronize_rcu() and urcu_memb synchronize_rcu(), with the SAME N
 * reader threads, in the same run: every reader is registered with all
 * three and, after each call through a slot, announces a cmodx quiescent
 * state, a QSBR quiescent state and an empty memb read-side critical
 * section.  The writers take turns in rounds so drift hits them alike.
 * Twice: with the cmodx domain's default (asymmetric) fences and with
 * CMODX_DOMAIN_SYMMETRIC_FENCES.  Then where cmodx's waits spent their
 * time, from the domain's counters; what a futex sleep's timeout costs;
 * and several writers calling synchronize at once (shared grace periods).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

__attribute__((noinline)) static double cmodx_qs_ns(cmodx_thread *self, uint64_t n)
{
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        cmodx_quiescent(self);
        __asm__ volatile("" ::: "memory"); /* one announcement per iteration */
    }
    return (double)(now_ns() - t0) / (double)n;
}

static void reader_side(void)
{
    cmodx_domain *d;
    cmodx_thread *self;
    die_on(cmodx_domain_create(NULL, &d), "cmodx_domain_create");
    die_on(cmodx_thread_register(d, &self), "cmodx_thread_register");
    /* As for the call path: many short repetitions, best and median. */
    int reps = opt.quick ? 5 : (int)(201 * opt.scale);
    if (reps < 5)
        reps = 5;
    uint64_t n = opt.quick ? 100000 : 2000000;
    int nv = bench_urcu_available() ? 3 : 1;
    double *v[3];
    for (int k = 0; k < 3; k++)
        v[k] = calloc((size_t)reps, sizeof(double));
    if (bench_urcu_available())
        bench_urcu_init();
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < nv; k++) {
            int which = (k + r) % nv;
            v[which][r] = which == 0 ? cmodx_qs_ns(self, n)
                          : which == 1 ? bench_qsbr_qs_ns(n) : bench_memb_cs_ns(n);
        }
    if (bench_urcu_available())
        bench_urcu_fini();
    static const char *const names[3] = {"cmodx_quiescent()", "urcu_qsbr_quiescent_state()",
                                         "urcu_memb read_lock+unlock"};
    note("Reader-side cost, one thread, no grace period pending: %d repetitions of %llu "
         "announcements, interleaved; best = fastest repetition, and the median; ratio = "
         "best / best of urcu QSBR.", reps, (unsigned long long)n);
    table_begin("announcement|ns best|median|ratio to urcu QSBR");
    struct summary s[3];
    for (int k = 0; k < nv; k++)
        summarize(v[k], (size_t)reps, &s[k]);
    for (int k = 0; k < nv; k++) {
        char ratio[32] = "-";
        if (nv == 3)
            snprintf(ratio, sizeof ratio, "%.2fx", s[k].min / s[1].min);
        table_row("%s|%.3f|%.3f|%s", names[k], s[k].min, s[k].median, ratio);
        data_line("reader", "%d \"%s\" %.4f %.4f", k, names[k], s[k].min, s[k].median);
    }
    table_end();
    if (nv == 3)
        printf("  ratio cmodx_quiescent / urcu_qsbr_quiescent_state = %.2f (best)\n",
               s[0].min / s[1].min);
    for (int k = 0; k < 3; k++)
        free(v[k]);
    die_on(cmodx_domain_destroy(d), "cmodx_domain_destroy");
}

/* The raw membarrier(PRIVATE_EXPEDITED) that the writer would pay per
 * grace period on a weakly ordered processor with asymmetric fences. */
static void raw_membarrier_expedited(void)
{
    if (syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
        die_on(errno, "membarrier(PRIVATE_EXPEDITED)");
}

static int have_membarrier_expedited(void)
{
    long mask = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    return mask > 0 && (mask & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
           syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

/* SYMMETRIC: the cmodx domain uses CMODX_DOMAIN_SYMMETRIC_FENCES (readers
 * fence once per grace period, no membarrier), liburcu QSBR's trade-off.
 * Both passes run the liburcu writers with the same readers. */
static void writer_side_mode(int symmetric, struct cmodx_reclaim_stats *where, size_t *nwhere);

static void writer_side(void)
{
    struct cmodx_reclaim_stats where[2][4];
    size_t nwhere[2] = {0, 0};
    writer_side_mode(0, where[0], &nwhere[0]);
    writer_side_mode(1, where[1], &nwhere[1]);

    note("Where cmodx_synchronize() spends its time, from the domain's counters "
         "(cmodx_reclaim_get_stats) over the cmodx rows above: waits that ended within the "
         "spin (no system call), FUTEX_WAIT calls of the writer (sleeps), futex wake calls made by "
         "announcing readers, and membarrier calls made by reclamation, each per grace-period "
         "wait.");
    table_begin("fences|readers|waits|spin only|sleeps per wait|wake calls per wait|"
                "membarriers per wait");
    int threads[] = {1, 2, 4, 8};
    for (int m = 0; m < 2; m++)
        for (size_t t = 0; t < nwhere[m]; t++) {
            const struct cmodx_reclaim_stats *w = &where[m][t];
            double waits = w->waits ? (double)w->waits : 1;
            table_row("%s|%d|%llu|%.1f%%|%.3f|%.3f|%.3f", m ? "symmetric" : "asymmetric (default)",
                      threads[t], (unsigned long long)w->waits,
                      100.0 * (double)(w->waits - w->slept_waits) / waits,
                      (double)w->sleeps / waits, (double)w->wakeups / waits,
                      (double)w->membarriers / waits);
            data_line("grace-where", "%d %d %llu %.4f %.4f %.4f %.4f", m, threads[t],
                      (unsigned long long)w->waits,
                      (double)(w->waits - w->slept_waits) / waits, (double)w->sleeps / waits,
                      (double)w->wakeups / waits, (double)w->membarriers / waits);
        }
    table_end();
}

static void writer_side_mode(int symmetric, struct cmodx_reclaim_stats *where, size_t *nwhere)
{
    int threads[] = {1, 2, 4, 8};
    int mb = !symmetric && have_membarrier_expedited();
    /* Writers: cmodx, liburcu QSBR and memb when built with liburcu, and
     * (default pass) the raw membarrier as a part. */
    int nv = bench_urcu_available() ? 3 : 1;
    int writers[4], nw = 0;
    for (int k = 0; k < nv; k++)
        writers[nw++] = k;
    if (mb)
        writers[nw++] = 3;
    static const char *const names[4] = {"cmodx_synchronize", "urcu_qsbr synchronize_rcu",
                                         "urcu_memb synchronize_rcu",
                                         "part: raw membarrier PRIVATE_EXPEDITED"};
    static const char *const keys[4] = {"cmodx", "qsbr", "memb", "membarrier"};
    int rounds = opt.quick ? 1 : 10;
    double budget = (opt.quick ? 0.01 : 0.12 * opt.scale) * 1e9; /* per round and writer */
    if (symmetric)
        note("The same with CMODX_DOMAIN_SYMMETRIC_FENCES for the cmodx domain: readers add "
             "one full fence per grace period and the writer needs no membarrier (liburcu "
             "QSBR's trade-off).  The liburcu writers run again, with the same readers.");
    else
        note("Grace-period latency in microseconds, the same N reader threads for every "
             "writer (each reader: call through a slot, then announce to cmodx, urcu-qsbr and "
             "urcu-memb).  %d rounds, each giving every writer %.0f ms of back-to-back grace "
             "periods, in rotating order; median, p99 and min..max over all samples; ratios "
             "to urcu QSBR's median and p99.  The raw membarrier row is a part: what a grace "
             "period with asymmetric fences costs at least where the processor is weakly "
             "ordered (not x86-64; see docs/RECLAMATION.md).", rounds, budget / 1e6);
    table_begin("implementation|readers|median us|p99 us|min us|max us|samples|median / QSBR|"
                "p99 / QSBR|cores");
    size_t nthreads = opt.quick ? 2 : 4; /* --quick: 1 and 2 readers */
    for (size_t t = 0; t < nthreads; t++) {
        int n = threads[t];
        cmodx_heap *h;
        cmodx_domain *d;
        die_on(cmodx_heap_create(NULL, &h), "cmodx_heap_create");
        struct cmodx_domain_config dc = {.heap = h,
                                         .flags = symmetric ? CMODX_DOMAIN_SYMMETRIC_FENCES : 0};
        die_on(cmodx_domain_create(&dc, &d), "cmodx_domain_create");
        static cmodx_slot slot;
        die_on(cmodx_slot_init(d, &slot, make_ret_block(h, 3).exec), "cmodx_slot_init");
        struct callers c = {.domain = d, .slots = &slot, .nslots = 1, .n = n};
        if (bench_urcu_available()) {
            c.extra = bench_urcu_extra;
            c.thread_init = bench_urcu_init;
            c.thread_fini = bench_urcu_fini;
        }
        callers_start(&c);
        struct cmodx_reclaim_stats st0, st1;
        cmodx_reclaim_get_stats(d, &st0);
        struct samples lat[4] = {{0}};
        for (int r = 0; r < rounds; r++)
            for (int k = 0; k < nw; k++) {
                int which = writers[(k + r) % nw];
                uint64_t start = now_ns();
                for (int i = 0; i < 2 || (double)(now_ns() - start) < budget; i++) {
                    uint64_t t0 = now_ns();
                    if (which == 0)
                        die_on(cmodx_synchronize(d, 0), "cmodx_synchronize");
                    else if (which == 1)
                        bench_qsbr_writer_sync();
                    else if (which == 2)
                        bench_memb_writer_sync();
                    else
                        raw_membarrier_expedited();
                    samples_add(&lat[which], (double)(now_ns() - t0) / 1000.0);
                }
            }
        cmodx_reclaim_get_stats(d, &st1);
        callers_stop(&c);
        struct cmodx_reclaim_stats *w = &where[(*nwhere)++];
        memset(w, 0, sizeof *w);
        w->waits = st1.waits - st0.waits;
        w->slept_waits = st1.slept_waits - st0.slept_waits;
        w->sleeps = st1.sleeps - st0.sleeps;
        w->wakeups = st1.wakeups - st0.wakeups;
        w->membarriers = st1.membarriers - st0.membarriers;
        struct summary s[4];
        for (int k = 0; k < nw; k++)
            summarize(lat[writers[k]].v, lat[writers[k]].n, &s[writers[k]]);
        char cn[96];
        cores_note(n + 1, cn, sizeof cn);
        for (int k = 0; k < nw; k++) {
            int which = writers[k];
            char rmed[32] = "-", rp99[32] = "-";
            if (nv == 3) {
                double q = s[which].median / s[1].median, q99 = s[which].p99 / s[1].p99;
                snprintf(rmed, sizeof rmed, q < 0.01 ? "<0.01x" : "%.2fx", q);
                snprintf(rp99, sizeof rp99, q99 < 0.01 ? "<0.01x" : "%.2fx", q99);
            }
            table_row("%s%s|%d|%.2f|%.2f|%.2f|%.2f|%zu|%s|%s|%s", names[which],
                      symmetric && which == 0 ? " (symmetric fences)" : "", n, s[which].median,
                      s[which].p99, s[which].min, s[which].max, s[which].n, rmed, rp99, cn);
            char dn[64];
            snprintf(dn, sizeof dn, "grace-%s%s", keys[which], symmetric ? "-sym" : "");
            data_line(dn, "%d %.3f %.3f %.3f %.3f", n, s[which].median, s[which].p99,
                      s[which].min, s[which].max);
        }
        for (int k = 0; k < 4; k++)
            samples_free(&lat[k]);
        if (nv == 3)
            printf("  ratio cmodx_synchronize%s / urcu_qsbr synchronize_rcu (%d readers) = "
                   "%.2f (median), %.2f (p99)\n", symmetric ? " (symmetric fences)" : "", n,
                   s[0].median / s[1].median, s[0].p99 / s[1].p99);
        cmodx_slot_fini(&slot);
        die_on(cmodx_domain_destroy(d), "cmodx_domain_destroy");
        cmodx_heap_destroy(h);
    }
    table_end();
}

/* ---- part: what a futex sleep's timeout costs a wake-up ----------------------
 * Two threads take turns: each wakes the other, then sleeps on its own
 * futex word until woken, with the timeout under test.  A timeout that
 * expires before the next scheduler tick makes the kernel reprogram the
 * timer device when the sleep starts and when it ends early (in a virtual
 * machine, exits to the hypervisor); the writer's sleeps in
 * cmodx_synchronize() are bounded longer than a tick for that reason. */

struct pingpong {
    uint32_t word[2];
    long timeout_ns; /* 0: none */
    uint64_t rounds;
};

static void pp_sleep(struct pingpong *p, int me)
{
    struct timespec ts = {p->timeout_ns / 1000000000L, p->timeout_ns % 1000000000L};
    while (__atomic_load_n(&p->word[me], __ATOMIC_ACQUIRE) == 0)
        syscall(SYS_futex, &p->word[me], FUTEX_WAIT_PRIVATE, 0, p->timeout_ns ? &ts : NULL,
                NULL, 0);
    __atomic_store_n(&p->word[me], 0, __ATOMIC_RELAXED);
}

static void pp_wake(struct pingpong *p, int other)
{
    __atomic_store_n(&p->word[other], 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &p->word[other], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *pp_partner(void *arg)
{
    struct pingpong *p = arg;
    for (uint64_t i = 0; i < p->rounds; i++) {
        pp_sleep(p, 1);
        pp_wake(p, 0);
    }
    return NULL;
}

static void timeout_part(void)
{
    static const long timeouts[] = {0, 10000000L, 1000000L};
    static const char *const names[] = {"no timeout", "10 ms timeout", "1 ms timeout"};
    int reps = opt.quick ? 3 : 21;
    uint64_t rounds = opt.quick ? 200 : 2000;
    double v[3][21];
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < 3; k++) {
            int which = (k + r) % 3;
            struct pingpong p = {.timeout_ns = timeouts[which], .rounds = rounds};
            pthread_t th;
            if (pthread_create(&th, NULL, pp_partner, &p) != 0)
                die_on(EAGAIN, "pthread_create");
            uint64_t t0 = now_ns();
            for (uint64_t i = 0; i < rounds; i++) {
                pp_wake(&p, 1);
                pp_sleep(&p, 0);
            }
            v[which][r] = (double)(now_ns() - t0) / 1000.0 / (double)rounds;
            pthread_join(th, NULL);
        }
    note("Part: a futex wake-up round trip (two threads, each wakes the other and sleeps "
         "until woken), sleeping without a timeout, with one longer than a scheduler tick, "
         "and with one shorter; %d repetitions of %llu round trips, interleaved; "
         "microseconds per round trip.", reps, (unsigned long long)rounds);
    table_begin("futex sleep|us best|median|median / no timeout");
    struct summary s[3];
    for (int k = 0; k < 3; k++)
        summarize(v[k], (size_t)reps, &s[k]);
    for (int k = 0; k < 3; k++)
        table_row("%s|%.2f|%.2f|%.2fx", names[k], s[k].min, s[k].median,
                  s[k].median / s[0].median);
    table_end();
}

/* ---- concurrent synchronize callers ------------------------------------------
 * W writer threads call the same synchronize back to back, with the same
 * readers: cmodx_synchronize() callers share grace periods (one leader runs
 * a period for every caller that arrived while the previous one ran), as
 * urcu_qsbr synchronize_rcu() callers do.  Latency per call, and for cmodx
 * the grace periods started per call (1.00 when no period is shared). */

struct sync_writer {
    pthread_t th;
    int which; /* 0 cmodx, 1 urcu QSBR */
    cmodx_domain *d;
    double budget_ns;
    const int *go;
    struct samples lat;
};

static void *sync_writer_main(void *arg)
{
    struct sync_writer *w = arg;
    while (!__atomic_load_n(w->go, __ATOMIC_ACQUIRE))
        ;
    uint64_t start = now_ns();
    for (int i = 0; i < 2 || (double)(now_ns() - start) < w->budget_ns; i++) {
        uint64_t t0 = now_ns();
        if (w->which == 0)
            die_on(cmodx_synchronize(w->d, 0), "cmodx_synchronize");
        else
            bench_qsbr_writer_sync();
        samples_add(&w->lat, (double)(now_ns() - t0) / 1000.0);
    }
    return NULL;
}

/* One phase: NW writers of kind WHICH for BUDGET_NS each, their latencies
 * appended to ALL. */
static void sync_writers_run(int which, int nw, cmodx_domain *d, double budget_ns,
                             struct samples *all)
{
    struct sync_writer w[8];
    int go = 0;
    for (int i = 0; i < nw; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].which = which;
        w[i].d = d;
        w[i].budget_ns = budget_ns;
        w[i].go = &go;
        if (pthread_create(&w[i].th, NULL, sync_writer_main, &w[i]) != 0)
            die_on(EAGAIN, "pthread_create");
    }
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < nw; i++) {
        pthread_join(w[i].th, NULL);
        for (size_t k = 0; k < w[i].lat.n; k++)
            samples_add(all, w[i].lat.v[k]);
        samples_free(&w[i].lat);
    }
}

static void concurrent_writers(void)
{
    static const int nws[] = {2, 4};
    const int readers = 1;
    int nv = bench_urcu_available() ? 2 : 1;
    int rounds = opt.quick ? 1 : 10;
    double budget = (opt.quick ? 0.01 : 0.12 * opt.scale) * 1e9; /* per round and phase */
    note("Concurrent callers: W writer threads call the same synchronize back to back (no "
         "other work), with %d reader thread (as above: a call through a slot, then an "
         "announcement to cmodx, urcu-qsbr and urcu-memb); %d rounds, each giving cmodx and "
         "urcu QSBR %.0f ms with all W writers, in rotating order; latency per call in "
         "microseconds (median, p99 over every call of every writer), calls per millisecond "
         "of all writers together, and for cmodx the grace periods started per call "
         "(cmodx_reclaim_get_stats; 1.00 = no period shared).  Default (asymmetric) fences.",
         readers, rounds, budget / 1e6);
    table_begin("writers|implementation|readers|median us|p99 us|calls per ms|periods per call|"
                "median / QSBR|p99 / QSBR|cores");
    for (size_t t = 0; t < sizeof nws / sizeof nws[0]; t++) {
        int nw = nws[t];
        cmodx_heap *h;
        cmodx_domain *d;
        die_on(cmodx_heap_create(NULL, &h), "cmodx_heap_create");
        struct cmodx_domain_config dc = {.heap = h};
        die_on(cmodx_domain_create(&dc, &d), "cmodx_domain_create");
        static cmodx_slot slot;
        die_on(cmodx_slot_init(d, &slot, make_ret_block(h, 3).exec), "cmodx_slot_init");
        struct callers c = {.domain = d, .slots = &slot, .nslots = 1, .n = readers};
        if (bench_urcu_available()) {
            c.extra = bench_urcu_extra;
            c.thread_init = bench_urcu_init;
            c.thread_fini = bench_urcu_fini;
        }
        callers_start(&c);
        struct samples lat[2] = {{0}};
        double spent[2] = {0, 0};
        uint64_t periods = 0;
        for (int r = 0; r < rounds; r++)
            for (int k = 0; k < nv; k++) {
                int which = (k + r) % nv;
                struct cmodx_reclaim_stats st0, st1;
                cmodx_reclaim_get_stats(d, &st0);
                uint64_t t0 = now_ns();
                sync_writers_run(which, nw, d, budget, &lat[which]);
                spent[which] += (double)(now_ns() - t0);
                cmodx_reclaim_get_stats(d, &st1);
                if (which == 0)
                    periods += st1.grace_periods - st0.grace_periods;
            }
        callers_stop(&c);
        struct summary s[2];
        for (int k = 0; k < nv; k++)
            summarize(lat[k].v, lat[k].n, &s[k]);
        char cn[96];
        cores_note(nw + readers, cn, sizeof cn);
        static const char *const names[2] = {"cmodx_synchronize", "urcu_qsbr synchronize_rcu"};
        for (int k = 0; k < nv; k++) {
            char rmed[32] = "-", rp99[32] = "-", ppc[32] = "-";
            if (nv == 2) {
                double q = s[k].median / s[1].median, q99 = s[k].p99 / s[1].p99;
                snprintf(rmed, sizeof rmed, q < 0.01 ? "<0.01x" : "%.2fx", q);
                snprintf(rp99, sizeof rp99, q99 < 0.01 ? "<0.01x" : "%.2fx", q99);
            }
            if (k == 0)
                snprintf(ppc, sizeof ppc, "%.2f", (double)periods / (double)(lat[0].n ? lat[0].n : 1));
            table_row("%d|%s|%d|%.2f|%.2f|%.1f|%s|%s|%s|%s", nw, names[k], readers, s[k].median,
                      s[k].p99, (double)lat[k].n / (spent[k] / 1e6), ppc, rmed, rp99, cn);
            data_line(k ? "grace-writers-qsbr" : "grace-writers-cmodx", "%d %.3f %.3f", nw,
                      s[k].median, s[k].p99);
        }
        if (nv == 2)
            printf("  ratio cmodx_synchronize / urcu_qsbr synchronize_rcu (%d writers) = %.2f "
                   "(median), %.2f (p99)\n", nw, s[0].median / s[1].median, s[0].p99 / s[1].p99);
        for (int k = 0; k < 2; k++)
            samples_free(&lat[k]);
        cmodx_slot_fini(&slot);
        die_on(cmodx_domain_destroy(d), "cmodx_domain_destroy");
        cmodx_heap_destroy(h);
    }
    table_end();
}

void bench_grace(void)
{
    section_begin(4, "Grace periods, next to liburcu");
    if (!bench_urcu_available())
        note("liburcu (liburcu-qsbr, liburcu-memb) was not found when cmodx-bench was built: "
             "the liburcu comparison is skipped; cmodx figures only.");
    reader_side();
    writer_side();
    timeout_part();
    concurrent_writers();
}
