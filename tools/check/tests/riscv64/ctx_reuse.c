/*
 * PR_RISCV_SET_ICACHE_FLUSH_CTX of thread scope belongs to the thread
 * that called it.  A first thread calls it and exits; a second one, which
 * qemu gives the same index (so the checker the same record), writes a
 * function, runs its own fence.i and calls it.  Without the prctl of its
 * own, Linux may move it to another hart after the fence.i.  The checker
 * kept the first thread's flag in the record (found by the hostile review
 * on 2 December).
 *
 * argv[1]: prev (only the first thread calls the prctl: reported),
 *          own (the second thread calls it too: correct).
 *
 * RUN: prev => fence-i-may-migrate
 * RUN: own => clean
 */
#include "common.h"

#include <pthread.h>

static struct dual d;
static int own;

static void *first(void *arg)
{
    (void)arg;
    fence_i_ctx(1);
    return NULL;
}

static void *second(void *arg)
{
    (void)arg;
    if (own) {
        fence_i_ctx(1);
    }
    const uint32_t code[] = { RV_LI_A0(42), RV_RET };
    emit(d.rw, code, 2);
    fence_i();
    return (void *)(intptr_t)as_fn(d.rx)();
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "prev") && strcmp(argv[1], "own"))) {
        fprintf(stderr, "usage: ctx_reuse prev|own\n");
        return 2;
    }
    own = strcmp(argv[1], "own") == 0;
    d = dual_map(4096);
    pthread_t t;
    void *ret = NULL;
    if (pthread_create(&t, NULL, first, NULL) != 0 || pthread_join(t, NULL) != 0 ||
        pthread_create(&t, NULL, second, NULL) != 0 || pthread_join(t, &ret) != 0) {
        return 2;
    }
    return (intptr_t)ret == 42 ? 0 : 1;
}
