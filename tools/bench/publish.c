/*
 * tools/bench/publish.c - section 2: publish latency per strategy.
 *
 * The writer times cmodx_slot_publish() of one already written block while
 * N caller threads call through the slot (and announce quiescent states)
 * as fast as they can.  The slot alternates between two blocks whose bytes
 * never change, so nothing is rewritten and no retirement is involved: the
 * figure is the switch itself (cache maintenance + the strategy's
 * cross-thread step + the store).  One more row, "membarrier +
 * CMODX_RETIRE_OLD", publishes a new block each time and retires the
 * replaced one: its difference to the membarrier row is what reclamation
 * adds to a publish (starting grace periods, freeing what they cover).
 *
 * References, with the same callers running:
 *  - floor: the raw membarrier(PRIVATE_EXPEDITED_SYNC_CORE) system call,
 *    which any correct eager strategy must at least pay on this kernel;
 *  - naive: store the new pointer and sleep one scheduler time slice,
 *    hoping every other thread was descheduled meanwhile.  Some JITs do
 *    this.  It is NOT correct (a thread that kept its core, or was
 *    preempted inside the old code, is not synchronised); it is shown only
 *    for its cost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

enum { P_FLOOR = -1, P_NAIVE = -2, P_VISIBLE = -3, P_RETIRE = -4 };

static long raw_membarrier(int cmd)
{
    return syscall(__NR_membarrier, cmd, 0, 0);
}

/* The scheduler time slice the naive approach sleeps for, and where it
 * came from.  CFS/EEVDF report 0 through sched_rr_get_interval() for
 * SCHED_OTHER on current kernels, and the base slice lives in debugfs. */
static uint64_t time_slice_ns(const char **source)
{
    struct timespec ts;
    if (sched_rr_get_interval(0, &ts) == 0 && (ts.tv_sec || ts.tv_nsec)) {
        *source = "sched_rr_get_interval()";
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    static const char *const files[] = {"/sys/kernel/debug/sched/base_slice_ns",
                                        "/proc/sys/kernel/sched_min_granularity_ns"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        FILE *f = fopen(files[i], "r");
        unsigned long long v = 0;
        if (f) {
            int ok = fscanf(f, "%llu", &v) == 1;
            fclose(f);
            if (ok && v) {
                *source = files[i];
                return v;
            }
        }
    }
    *source = "default 4 ms (one tick at HZ=250; the kernel does not report its slice here)";
    return 4000000;
}

static const char *label(int s)
{
    if (s == P_FLOOR)
        return "floor: raw membarrier SYNC_CORE";
    if (s == P_NAIVE)
        return "naive: sleep 1 time slice (WRONG)";
    if (s == P_VISIBLE)
        return "part: cmodx_make_visible alone";
    if (s == P_RETIRE)
        return "membarrier + CMODX_RETIRE_OLD";
    return cmodx_strategy_name((enum cmodx_strategy)s);
}

struct pub_result {
    struct summary lat_us;
    struct summary plain_us; /* P_RETIRE: the interleaved publishes without the flag */
    double calls_per_us;     /* per caller, during the run */
};

/* One configuration: strategy S (or a reference) with N callers. */
static int run_config(int s, int n, uint64_t slice_ns, struct pub_result *out)
{
    cmodx_heap *h;
    die_on(cmodx_heap_create(NULL, &h), "cmodx_heap_create");
    struct cmodx_domain_config dc = {
        .strategy = s == P_RETIRE ? CMODX_SYNC_MEMBARRIER
                    : s < 0       ? CMODX_SYNC_AUTO
                                  : (enum cmodx_strategy)s,
        .heap = h};
    cmodx_domain *d;
    if (cmodx_domain_create(&dc, &d) != 0) {
        cmodx_heap_destroy(h);
        return -1;
    }
    cmodx_block blk[2] = {make_ret_block(h, 1), make_ret_block(h, 2)};
    static cmodx_slot slot;
    die_on(cmodx_slot_init(d, &slot, blk[0].exec), "cmodx_slot_init");
    struct callers c = {.domain = d, .slots = &slot, .nslots = 1, .n = n};
    uint64_t c_start = now_ns();
    callers_start(&c);

    double budget_ns = (opt.quick ? 0.04 : 1.2 * opt.scale) * 1e9;
    size_t max_samples = opt.quick ? 40 : 4000, min_samples = opt.quick ? 2 : 20;
    size_t len = cmodx_emit_return_u32_size();
    struct samples lat = {0}, plain = {0};
    uint64_t start = now_ns();
    for (size_t i = 0; i < max_samples + 5; i++) {
        if (i >= min_samples + 5 && (double)(now_ns() - start) > budget_ns)
            break;
        cmodx_xptr next = blk[(i + 1) % 2].exec;
        /* P_RETIRE: a new block every time, written before the clock
         * starts; every other publish retires the replaced block itself
         * (CMODX_RETIRE_OLD), the others leave it to a cmodx_retire()
         * after the clock stops, so that both kinds see the same heap and
         * the same amount of pending reclamation. */
        int retire_flag = s == P_RETIRE && i % 2;
        cmodx_xptr old = {0};
        if (s == P_RETIRE)
            next = make_ret_block(h, (uint32_t)i).exec;
        uint64_t t0 = now_ns();
        if (s == P_FLOOR) {
            if (raw_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) != 0)
                die_on(errno, "membarrier");
        } else if (s == P_RETIRE) {
            die_on(cmodx_slot_publish(&slot, next, len, retire_flag ? CMODX_RETIRE_OLD : 0,
                                      retire_flag ? NULL : &old),
                   "cmodx_slot_publish");
        } else if (s == P_VISIBLE) {
            die_on(cmodx_make_visible(next, len), "cmodx_make_visible");
        } else if (s == P_NAIVE) {
            /* What the naive approach does: switch, then wait a slice. */
            __atomic_store_n(&slot.target, next.ptr, __ATOMIC_RELEASE);
            struct timespec ts = {(time_t)(slice_ns / 1000000000u),
                                  (long)(slice_ns % 1000000000u)};
            nanosleep(&ts, NULL);
        } else {
            die_on(cmodx_slot_publish(&slot, next, len, 0, NULL), "cmodx_slot_publish");
        }
        uint64_t t1 = now_ns();
        if (i >= 5) /* the first few warm up caches and the kernel paths */
            samples_add(s == P_RETIRE && !retire_flag ? &plain : &lat,
                        (double)(t1 - t0) / 1000.0);
        if (old.ptr)
            die_on(cmodx_retire(d, old), "cmodx_retire");
    }
    uint64_t calls = callers_stop(&c);
    uint64_t elapsed = now_ns() - c_start; /* the callers' whole life */
    summarize(lat.v, lat.n, &out->lat_us);
    if (s == P_RETIRE)
        summarize(plain.v, plain.n, &out->plain_us);
    out->calls_per_us = (double)calls / (double)n / ((double)elapsed / 1000.0);
    samples_free(&lat);
    samples_free(&plain);
    cmodx_slot_fini(&slot);
    die_on(cmodx_domain_destroy(d), "cmodx_domain_destroy");
    cmodx_heap_destroy(h);
    return 0;
}

void bench_publish(void)
{
    section_begin(2, "Publish latency per strategy, with running callers");
    const char *src;
    uint64_t slice = time_slice_ns(&src);
    int have_mb = raw_membarrier(MEMBARRIER_CMD_QUERY) > 0 &&
                  (raw_membarrier(MEMBARRIER_CMD_QUERY) &
                   MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) &&
                  raw_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE) == 0;
    /* The references, then every strategy of the library (numbered from 1
     * up to the first unknown name), the retiring membarrier rows right
     * after membarrier's, and the naive reference last. */
    int list[64];
    size_t nlist = 0;
    list[nlist++] = P_FLOOR;
    list[nlist++] = P_VISIBLE;
    for (int s = CMODX_SYNC_AUTO + 1;
         nlist < sizeof list / sizeof list[0] - 2 &&
         strcmp(cmodx_strategy_name((enum cmodx_strategy)s), "unknown") != 0;
         s++) {
        list[nlist++] = s;
        if (s == CMODX_SYNC_MEMBARRIER)
            list[nlist++] = P_RETIRE;
    }
    list[nlist++] = P_NAIVE;
    int threads[] = {1, 2, 4, 8};
    size_t nthreads = opt.quick ? 2 : 4; /* --quick: 1 and 2 callers */
    note("Writer latency of one cmodx_slot_publish() (switch between two written blocks, "
         "no retirement), microseconds; %s per configuration.  \"new block each time\" and "
         "\"+ CMODX_RETIRE_OLD\" alternate in one run: a newly written block per publish, "
         "the replaced one retired by the publish itself (CMODX_RETIRE_OLD, which then also "
         "starts grace periods and frees what they cover) or by a cmodx_retire() after the "
         "clock stops.  Callers loop on "
         "CMODX_CALL + cmodx_quiescent.  The naive reference sleeps %.2f ms (%s) and is "
         "NOT a correct synchronisation.  \"part\" is one step of every publish on its own: "
         "the writer's cache maintenance and own context synchronisation.  calls/us = calls per caller per microsecond "
         "during the run (how much the strategy slows the callers down).  %d cores: with "
         "more callers than cores (or callers + writer > cores) the figures include "
         "waiting for the scheduler, and the row says so.",
         opt.quick ? "up to 40 samples or 40 ms" : "up to 4000 samples or 1.2 s",
         (double)slice / 1e6, src, opt.ncpus);
    table_begin("strategy|callers|median us|p99 us|min us|max us|samples|vs floor|calls/us|"
                "cores");
    double floor_med[MAX_CALLERS + 1] = {0};
    for (size_t t = 0; t < nthreads; t++) {
        int n = threads[t];
        char cn[96];
        cores_note(n + 1, cn, sizeof cn);
        for (size_t k = 0; k < nlist; k++) {
            int s = list[k];
            if (s == P_FLOOR && !have_mb) {
                table_row("%s|%d|n/a|n/a|n/a|n/a|0|-|-|membarrier SYNC_CORE unavailable",
                          label(s), n);
                continue;
            }
            struct pub_result r;
            if (run_config(s, n, slice, &r) != 0) {
                table_row("%s|%d|n/a|n/a|n/a|n/a|0|-|-|unavailable: %s", label(s), n,
                          cmodx_last_error());
                continue;
            }
            if (s == P_FLOOR)
                floor_med[n] = r.lat_us.median;
            char ratio[32] = "-";
            if (s == P_RETIRE) {
                if (floor_med[n] > 0)
                    snprintf(ratio, sizeof ratio, "%.2fx", r.plain_us.median / floor_med[n]);
                table_row("membarrier, new block each time|%d|%.2f|%.2f|%.2f|%.2f|%zu|%s|%.1f|%s",
                          n, r.plain_us.median, r.plain_us.p99, r.plain_us.min, r.plain_us.max,
                          r.plain_us.n, ratio, r.calls_per_us, cn);
                printf("  ratio publish with CMODX_RETIRE_OLD / without (%d callers) = %.2f "
                       "(median)\n", n, r.lat_us.median / r.plain_us.median);
            }
            if (floor_med[n] > 0 && s != P_FLOOR)
                snprintf(ratio, sizeof ratio, "%.2fx", r.lat_us.median / floor_med[n]);
            table_row("%s|%d|%.2f|%.2f|%.2f|%.2f|%zu|%s|%.1f|%s", label(s), n,
                      r.lat_us.median, r.lat_us.p99, r.lat_us.min, r.lat_us.max, r.lat_us.n,
                      ratio, r.calls_per_us, cn);
            char dn[64];
            snprintf(dn, sizeof dn, "publish-%s",
                     s == P_FLOOR ? "floor" : s == P_NAIVE ? "naive"
                     : s == P_VISIBLE ? "visible" : s == P_RETIRE ? "retire" : label(s));
            data_line(dn, "%d %.3f %.3f %.3f %.3f", n, r.lat_us.median, r.lat_us.p99,
                      r.lat_us.min, r.lat_us.max);
            if (s == CMODX_SYNC_MEMBARRIER && floor_med[n] > 0)
                printf("  ratio membarrier publish / raw membarrier (%d callers) = %.2f\n", n,
                       r.lat_us.median / floor_med[n]);
        }
    }
    table_end();
}
