/*
 * tools/bench/bench.h - shared pieces of cmodx-bench: options, timing,
 * summaries, report output (text on stdout, optional markdown tables and
 * gnuplot data files) and a pool of caller threads.
 *
 * A benchmark is never a pass/fail test: nothing here compares a figure
 * with a threshold.  Every figure is printed with its repetitions and its
 * spread, next to its reference where one exists.
 */
#ifndef CMODX_BENCH_H
#define CMODX_BENCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cmodx/cmodx.h"

#define MAX_CALLERS 8

struct bench_opts {
    int quick;            /* tiny sizes: the test suite's smoke run */
    int emulated;         /* figures are not performance (qemu-user) */
    unsigned sections;    /* bit i = section i+1 */
    double scale;         /* multiplies repetitions / budgets */
    const char *data_dir; /* gnuplot .dat files go here, or NULL */
    const char *markdown; /* markdown tables go here, or NULL */
    int ncpus;
};

extern struct bench_opts opt;

/* Ratios printed so far (the smoke test requires the call path's). */
extern int ratios_printed;

/* ---- time and statistics -------------------------------------------- */

uint64_t now_ns(void);

struct summary {
    size_t n;
    double min, p01, median, p99, max, mean;
};

/* Sorts V in place. */
void summarize(double *v, size_t n, struct summary *s);

/* A growable array of samples. */
struct samples {
    double *v;
    size_t n, cap;
};
void samples_add(struct samples *s, double x);
void samples_free(struct samples *s);

/* "(2 threads on 2 cores)" style phrases for oversubscription notes. */
const char *cores_note(int threads, char *buf, size_t len);

/* ---- report output ------------------------------------------------------
 * A table is printed as aligned text on stdout and, with --markdown, as a
 * markdown table.  Cells are separated by '|' in the format string. */

void section_begin(int number, const char *title);
void table_begin(const char *columns);
void table_row(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void table_end(void);
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Append one line to DATA_DIR/NAME.dat (truncated at first use). */
void data_line(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void output_close(void);

/* ---- JIT helpers ------------------------------------------------------- */

typedef uint32_t (*ret_fn)(void);

static inline ret_fn xptr_fn(const void *p)
{
    ret_fn f;
    __builtin_memcpy(&f, &p, sizeof f);
    return f;
}

/* Allocate a block in H that returns VALUE, made visible; exits on error. */
cmodx_block make_ret_block(cmodx_heap *h, uint32_t value);

/* Exit with a message naming the failing call. */
void die_on(int err, const char *what);

/* ---- caller threads ------------------------------------------------------
 * N threads registered in a domain, calling through SLOTS round-robin and
 * announcing a quiescent state after every call, until stopped.  EXTRA
 * (may be NULL) runs after each call too, and THREAD_INIT / THREAD_FINI
 * around the loop (used to register the same threads with liburcu). */
struct callers {
    cmodx_domain *domain;
    cmodx_slot *slots;
    size_t nslots;
    int n;
    void (*extra)(void);
    void (*thread_init)(void);
    void (*thread_fini)(void);
    pthread_t th[MAX_CALLERS];
    int ready, stop;
    uint64_t calls;
    uint32_t sink;
};

void callers_start(struct callers *c);
/* Stops and joins; returns the total number of calls made. */
uint64_t callers_stop(struct callers *c);

/* ---- sections ---------------------------------------------------------- */

void bench_call_path(void);
void bench_publish(void);
void bench_batch(void);
void bench_grace(void);
void bench_scale(void);
void bench_patch(void);

/* liburcu wrappers (bench_urcu.c; absent without liburcu). */
int bench_urcu_available(void);
void bench_qsbr_reader_init(void);
void bench_qsbr_reader_fini(void);
void bench_qsbr_reader_qs(void);
void bench_qsbr_writer_sync(void);
void bench_memb_reader_init(void);
void bench_memb_reader_fini(void);
void bench_memb_reader_cs(void);
void bench_memb_writer_sync(void);
double bench_qsbr_qs_ns(uint64_t iters);
double bench_memb_cs_ns(uint64_t iters);
void bench_urcu_extra(void); /* both announcements, for shared readers */
void bench_urcu_init(void);
void bench_urcu_fini(void);

#endif
