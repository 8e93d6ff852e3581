/*
 * A failed compare-and-swap carries nothing to the loads of its word.
 *
 * The failed CAS's write callback (see failed_store.c) was also taken as
 * a store into the shadow of memory: its word's slot named the failing
 * thread's knowledge, and a later plain load of the unchanged value
 * acquired it.  Here the writer stores code and completes the maintenance
 * (no release, no flag); a reader that only slept loads a flag the writer
 * never set (its CASL on it fails), executes an ISB and calls the code.
 * Nothing orders the maintenance before the reader's fetch: herd7 allows
 * the stale fetch, and so must the report, with or without the failed CAS.
 *
 * argv[1]: cas (the writer's CASL on the flag fails) | none (no CAS)
 *
 * RUN: cas => no-context-sync
 * RUN: none => no-context-sync
 */
#include "common.h"

#include <pthread.h>
#include <time.h>

static struct dual d;
static int with_cas;
static uint64_t flag;
static int done;

static void *reader(void *arg)
{
    (void)arg;
    struct timespec ts = { 0, 300 * 1000 * 1000 };
    nanosleep(&ts, NULL);   /* the writer stores and maintains meanwhile */
    uint64_t v;
    __asm__ volatile("ldar %0, [%1]" : "=r"(v) : "r"(&flag) : "memory");
    isb();
    int r = as_fn(d.rx)();
    __atomic_store_n(&done, 1, __ATOMIC_RELAXED);
    return (void *)(uintptr_t)(r == 7 && v == 0 ? 0 : 1);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        return 2;
    }
    with_cas = strcmp(argv[1], "cas") == 0;
    d = dual_map(4096);
    pthread_t t;
    if (pthread_create(&t, NULL, reader, NULL) != 0) {
        return 2;
    }
    const uint32_t code[] = { A64_MOV_W0(7), A64_RET };
    emit(d.rw, code, 2);
    maintain(&d, 0, sizeof(code), S_DC | S_DSB1 | S_IC | S_DSB2);
    if (with_cas) {
        uint64_t expect = 42;   /* the flag is 0: the CAS fails, stores nothing */
        __asm__ volatile(".arch_extension lse\n\tcasl %0, %2, [%1]"
                         : "+&r"(expect) : "r"(&flag), "r"((uint64_t)1) : "memory");
    }
    /* No system call until the reader has run: the kernel would order the
     * maintenance before the reader's fetch. */
    while (!__atomic_load_n(&done, __ATOMIC_RELAXED)) {
    }
    void *bad;
    pthread_join(t, &bad);
    return bad ? 1 : 0;
}
