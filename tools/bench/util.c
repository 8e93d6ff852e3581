/* tools/bench/util.c - timing, statistics, report output, caller threads. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted V. */
static double pct(const double *v, size_t n, double p)
{
    size_t i = (size_t)ceil(p * (double)n);
    i = i ? i - 1 : 0;
    return v[i < n ? i : n - 1];
}

void summarize(double *v, size_t n, struct summary *s)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    if (!n)
        return;
    qsort(v, n, sizeof *v, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    s->min = v[0];
    s->max = v[n - 1];
    s->p01 = pct(v, n, 0.01);
    s->p99 = pct(v, n, 0.99);
    s->median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    s->mean = sum / (double)n;
}

void samples_add(struct samples *s, double x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v)
            die_on(ENOMEM, "samples");
    }
    s->v[s->n++] = x;
}

void samples_free(struct samples *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

const char *cores_note(int threads, char *buf, size_t len)
{
    if (threads > opt.ncpus)
        snprintf(buf, len, "OVERSUBSCRIBED: %d threads on %d cores", threads, opt.ncpus);
    else
        snprintf(buf, len, "%d threads on %d cores", threads, opt.ncpus);
    return buf;
}

void die_on(int err, const char *what)
{
    if (!err)
        return;
    fprintf(stderr, "cmodx-bench: %s failed: %s (%s)\n", what, cmodx_strerror(err),
            cmodx_last_error());
    exit(1);
}

cmodx_block make_ret_block(cmodx_heap *h, uint32_t value)
{
    cmodx_block b;
    die_on(cmodx_block_alloc(h, cmodx_emit_return_u32_size(), &b), "cmodx_block_alloc");
    if (!cmodx_emit_return_u32(b.write, b.size, value))
        die_on(EINVAL, "cmodx_emit_return_u32");
    die_on(cmodx_make_visible(b.exec, b.size), "cmodx_make_visible");
    return b;
}

/* ---- output -------------------------------------------------------------- */

static FILE *md;
static int ncols;

#define MAX_DATA 32
static struct {
    char name[64];
    FILE *f;
} data_files[MAX_DATA];

static FILE *md_file(void)
{
    if (!md && opt.markdown) {
        md = fopen(opt.markdown, "w");
        if (!md) {
            fprintf(stderr, "cmodx-bench: cannot write %s: %s\n", opt.markdown, strerror(errno));
            exit(1);
        }
    }
    return md;
}

void section_begin(int number, const char *title)
{
    printf("\n== %d. %s ==\n", number, title);
    if (md_file())
        fprintf(md, "\n## %d. %s\n\n", number, title);
    fflush(stdout);
}

/* Print the '|'-separated CELLS as one line of each format. */
static void emit_cells(const char *cells)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", cells);
    if (md)
        fputs("|", md);
    int col = 0;
    for (char *save = NULL, *c = strtok_r(buf, "|", &save); c; c = strtok_r(NULL, "|", &save)) {
        printf(col == 0 ? "  %-30s" : " %14s", c);
        if (md)
            fprintf(md, " %s |", c);
        col++;
    }
    printf("\n");
    if (md)
        fputs("\n", md);
}

void table_begin(const char *columns)
{
    md_file();
    ncols = 1;
    for (const char *p = columns; *p; p++)
        ncols += *p == '|';
    emit_cells(columns);
    if (md) {
        fputs("|", md);
        for (int i = 0; i < ncols; i++)
            fputs(i ? "---:|" : "---|", md);
        fputs("\n", md);
    }
}

void table_row(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    emit_cells(buf);
    fflush(stdout);
}

void table_end(void)
{
    if (md)
        fputs("\n", md);
}

void note(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printf("  note: %s\n", buf);
    if (md_file())
        fprintf(md, "%s\n\n", buf);
    fflush(stdout);
}

void data_line(const char *name, const char *fmt, ...)
{
    if (!opt.data_dir)
        return;
    FILE *f = NULL;
    int i;
    for (i = 0; i < MAX_DATA && data_files[i].f; i++)
        if (strcmp(data_files[i].name, name) == 0) {
            f = data_files[i].f;
            break;
        }
    if (!f) {
        if (i == MAX_DATA)
            return;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.dat", opt.data_dir, name);
        f = fopen(path, "w");
        if (!f) {
            fprintf(stderr, "cmodx-bench: cannot write %s: %s\n", path, strerror(errno));
            exit(1);
        }
        snprintf(data_files[i].name, sizeof data_files[i].name, "%s", name);
        data_files[i].f = f;
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
}

void output_close(void)
{
    for (int i = 0; i < MAX_DATA && data_files[i].f; i++)
        fclose(data_files[i].f);
    if (md)
        fclose(md);
    md = NULL;
}

/* ---- caller threads ------------------------------------------------------- */

static void *caller_main(void *arg)
{
    struct callers *c = arg;
    cmodx_thread *self;
    die_on(cmodx_thread_register(c->domain, &self), "cmodx_thread_register");
    if (c->thread_init)
        c->thread_init();
    __atomic_add_fetch(&c->ready, 1, __ATOMIC_ACQ_REL);
    uint64_t calls = 0;
    uint32_t sink = 0;
    size_t i = 0;
    while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
        /* 64 calls between looks at the stop flag keep the loop about the
         * slot path, not the flag. */
        for (int k = 0; k < 64; k++) {
            sink += CMODX_CALL(ret_fn, &c->slots[i], self);
            cmodx_quiescent(self);
            if (c->extra)
                c->extra();
            if (++i == c->nslots)
                i = 0;
        }
        calls += 64;
    }
    if (c->thread_fini)
        c->thread_fini();
    die_on(cmodx_thread_unregister(c->domain), "cmodx_thread_unregister");
    __atomic_add_fetch(&c->calls, calls, __ATOMIC_RELAXED);
    __atomic_add_fetch(&c->sink, sink, __ATOMIC_RELAXED);
    return NULL;
}

void callers_start(struct callers *c)
{
    c->ready = c->stop = 0;
    c->calls = 0;
    for (int i = 0; i < c->n; i++)
        if (pthread_create(&c->th[i], NULL, caller_main, c) != 0)
            die_on(EAGAIN, "pthread_create");
    while (__atomic_load_n(&c->ready, __ATOMIC_ACQUIRE) < c->n)
        sched_yield();
}

uint64_t callers_stop(struct callers *c)
{
    __atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < c->n; i++)
        pthread_join(c->th[i], NULL);
    return c->calls;
}
