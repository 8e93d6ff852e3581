/*
 * The main thread leaves with pthread_exit while another thread lives on
 * and publishes code.  Once the main thread has gone, the process's id
 * names a zombie without memory: the checker's reads of guest memory by
 * that id (process_vm_readv) failed, and every DC CVAU and IC IVAU was
 * reported as maintenance on unmapped memory (as were its lookups of
 * /proc/self/maps and /proc/self/fd).  The survivor waits until the main
 * thread has gone (a sleep), creates a caller, writes a block and
 * completes its maintenance (DC CVAU, DSB, IC IVAU, DSB), then publishes
 * its address with a store-release; the caller loads it with
 * load-acquire, executes an ISB (or not) and calls it.
 *
 * argv[1]: isb | noisb
 *
 * RUN: isb => clean
 * RUN: noisb => no-context-sync
 */
#include "common.h"

#include <pthread.h>
#include <time.h>

static struct dual d;
static const void *published;
static int with_isb;
static int answered;   /* the caller has called the block */

static void *caller(void *arg)
{
    (void)arg;
    const void *p;
    while (!(p = __atomic_load_n(&published, __ATOMIC_ACQUIRE))) {
        /* spin */
    }
    if (with_isb) {
        isb();
    }
    intptr_t r = as_fn(p)();
    __atomic_store_n(&answered, 1, __ATOMIC_RELEASE);
    return (void *)r;
}

static void *survivor(void *arg)
{
    (void)arg;
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    nanosleep(&ts, NULL);   /* the main thread has left by now */
    pthread_t t;
    if (pthread_create(&t, NULL, caller, NULL) != 0) {
        exit(2);
    }
    const uint32_t code[] = { A64_MOV_W0(5), A64_RET };
    emit(d.rw, code, 2);
    maintain(&d, 0, sizeof(code), S_DC | S_DSB1 | S_IC | S_DSB2);
    __atomic_store_n(&published, d.rx, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&answered, __ATOMIC_ACQUIRE)) {
        /* no system call until the caller has answered: the caller's start
         * acquires what the kernel was given, and a call here would order
         * the maintenance before the fetches of a caller started late */
    }
    void *r;
    pthread_join(t, &r);
    exit((intptr_t)r == 5 ? 0 : 1);
}

int main(int argc, char **argv)
{
    with_isb = !(argc > 1 && strcmp(argv[1], "noisb") == 0);
    d = dual_map(4096);
    pthread_t t;
    if (pthread_create(&t, NULL, survivor, NULL) != 0) {
        return 2;
    }
    pthread_exit(NULL);
}
