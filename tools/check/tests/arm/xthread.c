/*
 * Publish code to another thread through a flag after cacheflush(2): the
 * consumer still needs a context synchronisation (ISB, or membarrier
 * SYNC_CORE by the writer).
 *
 * RUN: isb => clean
 * RUN: noisb => no-context-sync
 * RUN: membarrier => clean
 */
#include "common.h"

#include <linux/membarrier.h>
#include <pthread.h>

static struct dual d;
static int flag, ready, mode_isb;

static void *consumer(void *arg)
{
    (void)arg;
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&flag, __ATOMIC_ACQUIRE)) {
    }
    if (mode_isb) {
        isb();
    }
    return (void *)(intptr_t)as_fn(d.rx)();
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "isb";
    mode_isb = strcmp(mode, "isb") == 0;
    int mb = strcmp(mode, "membarrier") == 0;
    if (mb && syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0)) {
        perror("membarrier register");
        return 2;
    }
    d = dual_map(4096);
    pthread_t t;
    pthread_create(&t, NULL, consumer, NULL);
    while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
    }
    const uint32_t code[] = { A32_MOV_R0(7), A32_BX_LR };
    emit(d.rw, code, 2);
    cacheflush(d.rx, d.rx + 2);
    if (mb && syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0)) {
        perror("membarrier");
        return 2;
    }
    __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
    void *r;
    pthread_join(t, &r);
    return (intptr_t)r == 7 ? 0 : 1;
}
