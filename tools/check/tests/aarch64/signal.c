/*
 * A signal delivered to the consumer after the code was published is a
 * context synchronisation: the consumer then needs no ISB.
 *
 * RUN: signal => clean
 * RUN: nosignal => no-context-sync
 */
#include "common.h"

#include <pthread.h>
#include <signal.h>

static struct dual d;
static int flag, ready, handled, use_signal;

static void on_usr1(int sig)
{
    (void)sig;
    __atomic_store_n(&handled, 1, __ATOMIC_RELEASE);
}

static void *consumer(void *arg)
{
    (void)arg;
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&flag, __ATOMIC_ACQUIRE)) {
    }
    while (use_signal && !__atomic_load_n(&handled, __ATOMIC_ACQUIRE)) {
    }
    return (void *)(intptr_t)as_fn(d.rx)();
}

int main(int argc, char **argv)
{
    use_signal = !(argc > 1 && strcmp(argv[1], "nosignal") == 0);
    signal(SIGUSR1, on_usr1);
    d = dual_map(4096);
    pthread_t t;
    pthread_create(&t, NULL, consumer, NULL);
    while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
    }
    const uint32_t code[] = { A64_MOV_W0(3), A64_RET };
    emit(d.rw, code, 2);
    maintain(&d, 0, sizeof(code), S_ALL);
    __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
    if (use_signal) {
        pthread_kill(t, SIGUSR1);
    }
    void *r;
    pthread_join(t, &r);
    return (intptr_t)r == 3 ? 0 : 1;
}
