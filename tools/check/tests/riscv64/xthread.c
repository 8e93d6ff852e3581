/*
 * Publish code to another hart through a flag.  A writer-side fence.i or
 * a LOCAL riscv_flush_icache does not reach the consumer's hart (a real
 * bug of JITs); flags 0, or the consumer's own fence.i, do (the latter
 * only with PR_RISCV_SET_ICACHE_FLUSH_CTX: otherwise Linux may move the
 * consumer to another hart after its fence.i).
 *
 * RUN: consumer-fencei => fence-i-may-migrate
 * RUN: consumer-fencei-ctx => clean
 * RUN: flush => clean
 * RUN: writer-fencei => no-fence-i
 * RUN: writer-fencei-ctx => local-flush-only
 * RUN: flush-local => local-flush-only
 * RUN: none => no-fence-i
 */
#include "common.h"

#include <pthread.h>

static struct dual d;
static int flag, ready, consumer_fence;

static void *consumer(void *arg)
{
    (void)arg;
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&flag, __ATOMIC_ACQUIRE)) {
    }
    if (consumer_fence) {
        fence_i();
    }
    return (void *)(intptr_t)as_fn(d.rx)();
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "consumer-fencei";
    consumer_fence = strncmp(mode, "consumer-fencei", 15) == 0;
    if (strstr(mode, "-ctx")) {
        fence_i_ctx(0);
    }
    d = dual_map(4096);
    pthread_t t;
    pthread_create(&t, NULL, consumer, NULL);
    while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
    }
    const uint32_t code[] = { RV_LI_A0(7), RV_RET };
    emit(d.rw, code, 2);
    if (strncmp(mode, "writer-fencei", 13) == 0) {
        fence_i();
    } else if (strcmp(mode, "flush") == 0) {
        flush_icache(d.rx, d.rx + 2, 0);
    } else if (strcmp(mode, "flush-local") == 0) {
        flush_icache(d.rx, d.rx + 2, FLUSH_LOCAL);
    }
    __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
    void *r;
    pthread_join(t, &r);
    return (intptr_t)r == 7 ? 0 : 1;
}
