/*
 * Publish code to another thread through a flag.  The writer does the
 * whole maintenance sequence; the consumer spins on the flag (no system
 * call) and then calls the code, with or without its own ISB; or the
 * writer makes every thread synchronise with membarrier SYNC_CORE.
 *
 * RUN: isb => clean
 * RUN: noisb => no-context-sync
 * RUN: membarrier => clean
 * RUN: membarrier-early => no-context-sync
 */
#include "common.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>

static struct dual d;
static int flag, ready, mode_isb;

static void *consumer(void *arg)
{
    (void)arg;
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&flag, __ATOMIC_ACQUIRE)) {
        /* spin: no system call, so no context synchronisation */
    }
    if (mode_isb) {
        isb();
    }
    return (void *)(intptr_t)as_fn(d.rx)();
}

static void membarrier_sync_core(void)
{
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) != 0) {
        perror("membarrier");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "isb";
    mode_isb = strcmp(mode, "isb") == 0;
    int mb = strncmp(mode, "membarrier", 10) == 0;
    if (mb && syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0)) {
        perror("membarrier register");
        return 2;
    }
    d = dual_map(4096);
    pthread_t t;
    pthread_create(&t, NULL, consumer, NULL);
    while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
    }
    if (strcmp(mode, "membarrier-early") == 0) {
        membarrier_sync_core();   /* too early: before the code exists */
    }
    const uint32_t code[] = { A64_MOV_W0(7), A64_RET };
    emit(d.rw, code, 2);
    maintain(&d, 0, sizeof(code), S_ALL);
    if (strcmp(mode, "membarrier") == 0) {
        membarrier_sync_core();
    }
    __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
    void *r;
    pthread_join(t, &r);
    return (intptr_t)r == 7 ? 0 : 1;
}
