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
 * section.  The three writers take turns in rounds so drift hits them alike.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

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

/* SYMMETRIC: the cmodx domain uses CMODX_DOMAIN_SYMMETRIC_FENCES (readers
 * fence once per grace period, no membarrier), liburcu QSBR's trade-off;
 * that pass measures cmodx alone and labels its rows. */
static void writer_side_mode(int symmetric);

static void writer_side(void)
{
    writer_side_mode(0);
    writer_side_mode(1);
}

static void writer_side_mode(int symmetric)
{
    int threads[] = {1, 2, 4, 8};
    int nv = symmetric ? 1 : bench_urcu_available() ? 3 : 1;
    static const char *const names[3] = {"cmodx_synchronize", "urcu_qsbr synchronize_rcu",
                                         "urcu_memb synchronize_rcu"};
    static const char *const keys[3] = {"cmodx", "qsbr", "memb"};
    if (symmetric) {
        note("The same with CMODX_DOMAIN_SYMMETRIC_FENCES: readers add one full fence per "
             "grace period and the writer needs no membarrier (liburcu QSBR's trade-off).");
    }
    int rounds = opt.quick ? 1 : 10;
    double budget = (opt.quick ? 0.01 : 0.12 * opt.scale) * 1e9; /* per round and writer */
    if (!symmetric)
        note("Grace-period latency in microseconds, the same N reader threads for all three "
             "(each reader: call through a slot, then announce to cmodx, urcu-qsbr and "
             "urcu-memb). %d rounds, each giving every writer %.0f ms of back-to-back grace "
             "periods; median, p99 and min..max over all samples.", rounds, budget / 1e6);
    table_begin("implementation|readers|median us|p99 us|min us|max us|samples|ratio to QSBR|"
                "cores");
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
        if (bench_urcu_available() && !symmetric) {
            c.extra = bench_urcu_extra;
            c.thread_init = bench_urcu_init;
            c.thread_fini = bench_urcu_fini;
        }
        callers_start(&c);
        struct samples lat[3] = {{0}};
        for (int r = 0; r < rounds; r++)
            for (int k = 0; k < nv; k++) {
                int which = (k + r) % nv;
                uint64_t start = now_ns();
                for (int i = 0; i < 2 || (double)(now_ns() - start) < budget; i++) {
                    uint64_t t0 = now_ns();
                    if (which == 0)
                        die_on(cmodx_synchronize(d, 0), "cmodx_synchronize");
                    else if (which == 1)
                        bench_qsbr_writer_sync();
                    else
                        bench_memb_writer_sync();
                    samples_add(&lat[which], (double)(now_ns() - t0) / 1000.0);
                }
            }
        callers_stop(&c);
        struct summary s[3];
        for (int k = 0; k < nv; k++)
            summarize(lat[k].v, lat[k].n, &s[k]);
        char cn[96];
        cores_note(n + 1, cn, sizeof cn);
        for (int k = 0; k < nv; k++) {
            char ratio[32] = "-";
            double q = nv == 3 ? s[k].median / s[1].median : 0;
            if (nv == 3)
                snprintf(ratio, sizeof ratio, q < 0.01 ? "<0.01x" : "%.2fx", q);
            table_row("%s%s|%d|%.2f|%.2f|%.2f|%.2f|%zu|%s|%s", names[k],
                      symmetric ? " (symmetric fences)" : "", n, s[k].median, s[k].p99, s[k].min,
                      s[k].max, s[k].n, ratio, cn);
            char dn[64];
            snprintf(dn, sizeof dn, "grace-%s%s", keys[k], symmetric ? "-sym" : "");
            data_line(dn, "%d %.3f %.3f %.3f %.3f", n, s[k].median, s[k].p99, s[k].min, s[k].max);
            samples_free(&lat[k]);
        }
        if (nv == 3)
            printf("  ratio cmodx_synchronize / urcu_qsbr synchronize_rcu (%d readers) = %.2f\n",
                   n, s[0].median / s[1].median);
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
}
