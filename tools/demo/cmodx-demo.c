/*
 * cmodx-demo - caller threads call a hot function through a slot in a
 * loop while a writer keeps generating new versions of it and publishing
 * them.  Every version returns its own number, so each caller checks that
 * what it ran is a version that was published and that versions never go
 * backwards.  Prints a status line every second and a summary at the end.
 *
 *   cmodx-demo [--threads N] [--seconds S] [--strategy NAME]
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmodx/cmodx.h>

#define MAX_VERSIONS (1u << 24)

struct options {
    int threads;
    int seconds;
    const char *strategy;
};

static cmodx_heap *heap;
static cmodx_domain *domain;
static cmodx_slot hot;                 /* the patch point */
static uint32_t published;             /* newest version whose publish began */
static int stop;
static unsigned long calls, errors, publishes;
static uint32_t *seen;                 /* one bit per version observed */

/* Per-caller call counter, one cache line each (no false sharing). */
struct counter {
    _Alignas(128) unsigned long calls;
};
static struct counter *counters;
static int nthreads;

static unsigned long calls_so_far(void)
{
    unsigned long n = 0;
    for (int i = 0; i < nthreads; i++)
        n += __atomic_load_n(&counters[i].calls, __ATOMIC_RELAXED);
    return n;
}

/* A whole decimal number in [lo, hi], the whole argument. */
static int int_arg(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: cmodx-demo [--threads N] [--seconds S] [--strategy NAME]\n"
               "  --threads N     caller threads (default 4)\n"
               "  --seconds S     run time (default 10)\n"
               "  --strategy NAME auto (default; also $CMODX_STRATEGY) or one of the\n"
               "                  library's strategies: ");
    for (int s = CMODX_SYNC_AUTO + 1;
         strcmp(cmodx_strategy_name((enum cmodx_strategy)s), "unknown") != 0; s++)
        fprintf(f, "%s%s", s > CMODX_SYNC_AUTO + 1 ? ", " : "",
                cmodx_strategy_name((enum cmodx_strategy)s));
    fputs("\n"
          "Once a second the writer prints one status line:\n"
          "  Ns STRATEGY       seconds since the start, the domain's strategy\n"
          "  last second:      calls made by all callers and versions published\n"
          "                    during the last second (rates, per second)\n"
          "  total:            since the start: distinct versions the callers have\n"
          "                    run, grace periods completed, and errors (a caller ran\n"
          "                    a version never published, or an older one than it\n"
          "                    had already run; must stay 0)\n"
          "  now:              retired blocks waiting for their grace period before\n"
          "                    they are freed (a gauge, neither rate nor total)\n"
          "At the end a summary line gives the totals and the average rates.\n",
          f);
}

static int parse(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {{"threads", required_argument, 0, 't'},
                                             {"seconds", required_argument, 0, 's'},
                                             {"strategy", required_argument, 0, 'S'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    *o = (struct options){4, 10, "auto"};
    int c;
    while ((c = getopt_long(argc, argv, "t:s:S:h", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (!int_arg(optarg, 1, 256, &o->threads)) {
                fprintf(stderr, "cmodx-demo: --threads %s: a whole number from 1 to 256\n",
                        optarg);
                usage(stderr);
                return -1;
            }
            break;
        case 's':
            if (!int_arg(optarg, 1, 86400, &o->seconds)) {
                fprintf(stderr, "cmodx-demo: --seconds %s: a whole number of seconds from 1 "
                        "to 86400\n", optarg);
                usage(stderr);
                return -1;
            }
            break;
        case 'S': o->strategy = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cmodx-demo: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    if (cmodx_strategy_parse(o->strategy) < 0) {
        fprintf(stderr, "cmodx-demo: --strategy %s: not a strategy name\n", o->strategy);
        usage(stderr);
        return -1;
    }
    return 0;
}

static void mark_seen(uint32_t v)
{
    __atomic_fetch_or(&seen[v / 32], 1u << (v % 32), __ATOMIC_RELAXED);
}

static unsigned long count_seen(void)
{
    unsigned long n = 0;
    uint32_t top = __atomic_load_n(&published, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i <= top / 32 && i < MAX_VERSIONS / 32; i++)
        n += (unsigned long)__builtin_popcount(__atomic_load_n(&seen[i], __ATOMIC_RELAXED));
    return n;
}

static void *caller(void *arg)
{
    struct counter *mine = arg;
    cmodx_thread *self;
    if (cmodx_thread_register(domain, &self) != 0) {
        fprintf(stderr, "register: %s\n", cmodx_last_error());
        __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    uint32_t last = 0, last_marked = UINT32_MAX;
    unsigned long n = 0, bad = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        for (int i = 0; i < 256; i++) {
            uint32_t v = CMODX_CALL(uint32_t (*)(void), &hot, self);
            /* A version is valid if it was published, and never older
             * than one this thread already ran. */
            if (v > __atomic_load_n(&published, __ATOMIC_ACQUIRE) || v < last)
                bad++;
            last = v;
            if (v != last_marked && v < MAX_VERSIONS) {
                mark_seen(v);
                last_marked = v;
            }
        }
        n += 256;
        __atomic_store_n(&mine->calls, n, __ATOMIC_RELAXED);
        if (bad) { /* counted now, so the status line's running total shows it */
            __atomic_fetch_add(&errors, bad, __ATOMIC_RELAXED);
            bad = 0;
        }
        cmodx_quiescent(self); /* no pointer into any block is held here */
    }
    __atomic_fetch_add(&calls, n, __ATOMIC_RELAXED);
    __atomic_fetch_add(&errors, bad, __ATOMIC_RELAXED);
    cmodx_thread_unregister(domain);
    return NULL;
}

/* Generate version V of the hot function: a fresh block that returns V. */
static int generate(uint32_t v, cmodx_xptr *out)
{
    cmodx_block b;
    int err = cmodx_block_alloc(heap, 64, &b);
    if (err)
        return err;
    cmodx_emit_return_u32(b.write, b.size, v);
    *out = b.exec;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The writer: publish new versions as fast as it can; old ones are
 * retired and freed after their grace period. */
static int write_versions(int seconds)
{
    double start = now(), next_status = start + 1;
    unsigned long last_pubs = 0, last_calls = 0;
    for (uint32_t v = 1; v < MAX_VERSIONS; v++) {
        cmodx_xptr code;
        int err = generate(v, &code);
        if (!err) {
            __atomic_store_n(&published, v, __ATOMIC_RELEASE);
            err = cmodx_slot_publish(&hot, code, cmodx_emit_return_u32_size(), CMODX_RETIRE_OLD,
                                     NULL);
        }
        if (err) {
            fprintf(stderr, "publish of version %u failed: %s\n", v, cmodx_last_error());
            return err;
        }
        publishes++;
        double t = now();
        if (t >= next_status) {
            struct cmodx_reclaim_stats rs;
            cmodx_reclaim_get_stats(domain, &rs);
            unsigned long c = calls_so_far();
            /* Three kinds of figure, labelled as such (see usage()): rates
             * over the last second, running totals since the start, and
             * the one instantaneous count. */
            printf("%4.0fs  %s  last second: calls %11lu  publishes %7lu  |  "
                   "total: versions seen %8lu  grace periods %8llu  errors %lu  |  "
                   "now: blocks pending %5zu\n",
                   t - start, cmodx_strategy_name(cmodx_domain_strategy(domain)), c - last_calls,
                   publishes - last_pubs, count_seen(), (unsigned long long)rs.grace_periods,
                   __atomic_load_n(&errors, __ATOMIC_RELAXED), rs.pending_blocks);
            fflush(stdout);
            last_pubs = publishes;
            last_calls = c;
            next_status += 1;
        }
        if (t - start >= seconds)
            break;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse(argc, argv, &o))
        return 2;
    seen = calloc(MAX_VERSIONS / 32, sizeof *seen);
    struct cmodx_heap_config hc = {.chunk_bytes = 256 * 1024, .limit_bytes = 8 << 20};
    struct cmodx_domain_config dc = {.strategy = (enum cmodx_strategy)cmodx_strategy_parse(o.strategy)};
    cmodx_xptr v0;
    if (!seen || cmodx_heap_create(&hc, &heap) || (dc.heap = heap, cmodx_domain_create(&dc, &domain)) ||
        generate(0, &v0) || cmodx_make_visible(v0, cmodx_emit_return_u32_size()) ||
        cmodx_slot_init(domain, &hot, v0)) {
        fprintf(stderr, "cmodx-demo: %s\n", cmodx_last_error());
        return 1;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    printf("cmodx-demo: %s, strategy %s, %d caller threads + 1 writer on %ld cores%s, %d s\n",
           cmodx_arch_name(), cmodx_strategy_name(cmodx_domain_strategy(domain)), o.threads, cores,
           o.threads + 1 > cores ? " (more threads than cores)" : "", o.seconds);
    pthread_t *th = calloc((size_t)o.threads, sizeof *th);
    nthreads = o.threads;
    counters = aligned_alloc(128, sizeof *counters * (size_t)o.threads);
    memset(counters, 0, sizeof *counters * (size_t)o.threads);
    for (int i = 0; i < o.threads; i++)
        pthread_create(&th[i], NULL, caller, &counters[i]);
    double t0 = now();
    int err = write_versions(o.seconds);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < o.threads; i++)
        pthread_join(th[i], NULL);
    double dt = now() - t0;
    struct cmodx_reclaim_stats rs;
    cmodx_synchronize(domain, 10000);
    cmodx_reclaim_get_stats(domain, &rs);
    struct cmodx_heap_stats hs;
    cmodx_heap_get_stats(heap, &hs);
    printf("summary: %.1f s, %lu calls (%.1f M/s), %lu publishes (%.0f/s), %lu distinct versions "
           "seen by callers, %llu grace periods, %llu blocks freed, heap %zu KiB mapped, "
           "%llu exec-view remaps, errors = %lu\n",
           dt, calls, (double)calls / dt / 1e6, publishes, (double)publishes / dt, count_seen(),
           (unsigned long long)rs.grace_periods, (unsigned long long)rs.freed_blocks,
           hs.mapped_bytes / 1024, (unsigned long long)hs.remaps, errors);
    cmodx_slot_fini(&hot);
    cmodx_domain_destroy(domain);
    cmodx_heap_destroy(heap);
    free(th);
    free(counters);
    free(seen);
    return err || errors ? 1 : 0;
}
