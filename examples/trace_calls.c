/*
 * trace_calls.c - trace calls to one of our own functions while threads
 * call it: redirect its entry to a tracer that counts calls per thread and
 * runs the original body, then restore it.
 *
 *   clang -O2 trace_calls.c $(pkg-config --cflags --libs cmodx) -o trace_calls
 *
 * The traced function is built with a patchable entry (the attribute form
 * of -fpatchable-function-entry).  AArch64: two NOPs.  x86-64: one 5-byte
 * NOP, which clang emits; gcc emits five one-byte NOPs there, which cannot
 * be patched safely, and the program says so.  ARMv7 and RISC-V 64: not
 * supported (docs/PATCHING.md).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmodx/cmodx.h>

#if defined(__x86_64__)
#define PATCHABLE __attribute__((noinline, patchable_function_entry(5, 0)))
#else
#define PATCHABLE __attribute__((noinline, patchable_function_entry(2, 0)))
#endif

enum { THREADS = 4, TRACED = 10000 };

PATCHABLE int work(int x) { return 3 * x + 1; }

static int (*original)(int);      /* the body after the patch point */
static long counts[THREADS];      /* calls seen by the tracer, per thread */
static _Thread_local int my_index;

static int traced(int x)
{
    __atomic_fetch_add(&counts[my_index], 1, __ATOMIC_RELAXED);
    return original(x);
}

static cmodx_domain *domain;
static int ready, stop;

/* The same computation, without a patch point. */
__attribute__((noinline)) static int same_as_work(int x) { return 3 * x + 1; }

static void *caller(void *arg)
{
    my_index = (int)(long)arg;
    cmodx_thread *self;
    cmodx_thread_register(domain, &self); /* needed by the signal strategy */
    int (*volatile f)(int) = work;
    long bad = 0;
    __atomic_fetch_add(&ready, 1, __ATOMIC_RELEASE);
    for (int i = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); i++) {
        bad += f(i) != 3 * i + 1;
        cmodx_quiescent(self);
    }
    cmodx_thread_unregister(domain);
    return (void *)bad;
}

/* Has every thread made TRACED traced calls? */
static int all_traced(void)
{
    for (int i = 0; i < THREADS; i++)
        if (__atomic_load_n(&counts[i], __ATOMIC_RELAXED) < TRACED)
            return 0;
    return 1;
}

static cmodx_xptr xfn(int (*f)(int))
{
    cmodx_xptr x;
    memcpy(&x.ptr, &f, sizeof f);
    return x;
}

int main(void)
{
    cmodx_heap *heap;
    if (cmodx_heap_create(NULL, &heap))
        return fprintf(stderr, "heap: %s\n", cmodx_last_error()), 1;
    /* Patching needs a strategy that synchronises every thread at once:
     * pin it, do not inherit CMODX_SYNC_AUTO. */
    struct cmodx_domain_config cfg = {.strategy = CMODX_SYNC_MEMBARRIER, .heap = heap};
    if (cmodx_domain_create(&cfg, &domain)) {
        cfg.strategy = CMODX_SYNC_SIGNAL;
        if (cmodx_domain_create(&cfg, &domain))
            return fprintf(stderr, "domain: %s\n", cmodx_last_error()), 1;
    }
    /* Where the body after the patch point starts (after a landing pad,
     * if any): cmodx_entry_list knows once the entry has been redirected,
     * so redirect it once to an identical function and back, before any
     * thread calls it.  The tracer calls the body there. */
    int err = cmodx_entry_redirect(domain, xfn(work), xfn(same_as_work));
    if (err) {
        printf("trace_calls: cannot trace here: %s\n", cmodx_last_error());
        cmodx_domain_destroy(domain);
        cmodx_heap_destroy(heap);
        return err == ENOTSUP ? 0 : 1;
    }
    struct cmodx_entry_info info;
    cmodx_entry_list(domain, &info, 1);
    const char *body = (const char *)info.patch_point.ptr + cmodx_patch_insn_size();
    memcpy(&original, &body, sizeof body);
    cmodx_entry_restore(domain, xfn(work));

    /* Trace while 4 threads call it, then restore while they still do. */
    pthread_t th[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, caller, (void *)i);
    while (__atomic_load_n(&ready, __ATOMIC_ACQUIRE) < THREADS)
        sched_yield();
    if (cmodx_entry_redirect(domain, xfn(work), xfn(traced)))
        return fprintf(stderr, "redirect: %s\n", cmodx_last_error()), 1;
    /* Until every thread was traced a while (or 10 s: a slow machine). */
    for (int ms = 0; ms < 10000 && !all_traced(); ms++)
        usleep(1000);
    if (cmodx_entry_restore(domain, xfn(work)))
        return fprintf(stderr, "restore: %s\n", cmodx_last_error()), 1;
    long after_restore = 0;
    for (int i = 0; i < THREADS; i++)
        after_restore -= __atomic_load_n(&counts[i], __ATOMIC_RELAXED);
    usleep(20000); /* calls go on, untraced (give or take one already past the jump) */
    for (int i = 0; i < THREADS; i++)
        after_restore += __atomic_load_n(&counts[i], __ATOMIC_RELAXED);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    long bad = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += (long)r;
    }
    long total = 0;
    for (int i = 0; i < THREADS; i++) {
        printf("thread %d: %ld traced calls\n", i, counts[i]);
        total += counts[i];
    }
    printf("%ld calls traced, %ld wrong results, %ld traced after the restore returned; "
           "work(2) = %d\n", total, bad, after_restore, work(2));
    /* The restore puts the NOP back but cannot wait for a thread already
     * past the jump (docs/PATCHING.md, "Restore"), so such a call may still
     * reach the tracer's counter afterwards. */
    printf("(after the restore: calls that had taken the jump before the NOP went back; the "
           "restore does not wait for them, so a few, one per thread inside work() then)\n");
    cmodx_domain_destroy(domain);
    cmodx_heap_destroy(heap);
    return bad != 0 || total == 0;
}
