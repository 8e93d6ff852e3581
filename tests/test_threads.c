/* Threads come and go while the writer publishes: they register, call,
 * go offline, and half of them exit without unregistering.  A thread that
 * stays offline (blocked) never holds the writer up.  Under every strategy
 * of the library, listed from the library (strategy_names()). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"

static cmodx_heap *heap;
static cmodx_domain *dom;
static cmodx_slot slot;
static int stop;
static unsigned long bad;


static void *short_lived(void *arg)
{
    uintptr_t n = (uintptr_t)arg;
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(dom, &self) == 0);
    uint32_t last = 0;
    for (int i = 0; i < 200; i++) {
        uint32_t v = CMODX_CALL(ret_fn, &slot, self);
        if (v < last || v > 1000000)
            __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
        last = v;
        cmodx_quiescent(self);
        if (i % 50 == 25) {
            cmodx_thread_offline(self);
            usleep(100);
            cmodx_thread_online(self);
        }
    }
    if (n % 2 == 0)
        cmodx_thread_unregister(dom);
    return NULL; /* odd threads exit registered: the exit destructor cleans up */
}

static void *spawner(void *arg)
{
    (void)arg;
    for (uintptr_t n = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); n++) {
        pthread_t t[3];
        for (int k = 0; k < 3; k++)
            pthread_create(&t[k], NULL, short_lived, (void *)(n * 3 + (uintptr_t)k));
        for (int k = 0; k < 3; k++)
            pthread_join(t[k], NULL);
    }
    return NULL;
}

static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static int parked_release;

static void *parked(void *arg)
{
    (void)arg;
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(dom, &self) == 0);
    cmodx_thread_offline(self); /* blocks for long: must not hold anyone up */
    pthread_mutex_lock(&park_lock);
    while (!parked_release)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
    cmodx_thread_online(self);
    CHECK(CMODX_CALL(ret_fn, &slot, self) > 0);
    cmodx_thread_unregister(dom);
    return NULL;
}

static void run(enum cmodx_strategy s)
{
    struct cmodx_domain_config c = {.strategy = s, .heap = heap, .signal_timeout_ms = 5000,
                                    .grace_timeout_ms = 5000};
    if (cmodx_domain_create(&c, &dom) != 0)
        return;
    cmodx_xptr v0 = make_fn(heap, 1);
    REQUIRE(cmodx_make_visible(v0, 16) == 0);
    REQUIRE(cmodx_slot_init(dom, &slot, v0) == 0);
    stop = 0;
    parked_release = 0;
    pthread_t sp, pk;
    pthread_create(&pk, NULL, parked, NULL);
    pthread_create(&sp, NULL, spawner, NULL);
    for (uint32_t v = 2; v < 400; v++) {
        int err = publish_retrying(&slot, make_fn(heap, v), 16, CMODX_RETIRE_OLD, NULL);
        if (err) {
            fprintf(stderr, "%s publish %u: %s\n", cmodx_strategy_name(s), v, cmodx_last_error());
            check_failures++;
            break;
        }
        if (v % 100 == 0)
            CHECK(synchronize_retrying(dom, 5000) == 0); /* the parked thread is offline */
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(sp, NULL);
    pthread_mutex_lock(&park_lock);
    parked_release = 1;
    pthread_cond_signal(&park_cond);
    pthread_mutex_unlock(&park_lock);
    pthread_join(pk, NULL);
    CHECK(synchronize_retrying(dom, 5000) == 0);
    CHECK_EQ(bad, 0);
    cmodx_slot_fini(&slot);
    /* Every thread is gone: registered ones left via the exit destructor. */
    CHECK(cmodx_domain_destroy(dom) == 0);
}

/* The strategies are numbered from 1 without gaps (cmodx_strategy_name's
 * promise, which the tools' lists rely on), each name parses back to its
 * value, the CMODX_STRATEGY refusal names every one, and the signal
 * strategy's default signal (SIGRTMIN+4, chosen by the signal strategy
 * itself) carries its handler.  Returns the number of strategies. */
static int strategy_names(void)
{
    int n = 0;
    while (strcmp(cmodx_strategy_name((enum cmodx_strategy)(n + 1)), "unknown") != 0) {
        CHECK_EQ(cmodx_strategy_parse(cmodx_strategy_name((enum cmodx_strategy)(n + 1))), n + 1);
        n++;
    }
    CHECK(n >= CMODX_SYNC_MPROTECT);
    CHECK(strcmp(cmodx_strategy_name(CMODX_SYNC_AUTO), "auto") == 0);
    for (int s = n + 1; s < n + 8; s++)
        CHECK(strcmp(cmodx_strategy_name((enum cmodx_strategy)s), "unknown") == 0);

    struct cmodx_domain_config c = {.heap = heap};
    cmodx_domain *d = NULL;
    REQUIRE(setenv("CMODX_STRATEGY", "no-such-strategy", 1) == 0);
    CHECK_EQ(cmodx_domain_create(&c, &d), EINVAL);
    REQUIRE(unsetenv("CMODX_STRATEGY") == 0);
    for (int s = 1; s <= n; s++)
        CHECK(strstr(cmodx_last_error(), cmodx_strategy_name((enum cmodx_strategy)s)) != NULL);
    CHECK(strstr(cmodx_last_error(), "auto") != NULL);

    struct sigaction before, during;
    REQUIRE(sigaction(SIGRTMIN + 4, NULL, &before) == 0);
    c.strategy = CMODX_SYNC_SIGNAL;
    if (cmodx_domain_create(&c, &d) == 0) {
        REQUIRE(sigaction(SIGRTMIN + 4, NULL, &during) == 0);
        CHECK((during.sa_flags & SA_SIGINFO) && during.sa_sigaction != before.sa_sigaction);
        CHECK(cmodx_domain_destroy(d) == 0);
    } else {
        printf("signal strategy unavailable (%s): default signal not checked\n",
               cmodx_last_error());
    }
    return n;
}

int main(void)
{
    REQUIRE(cmodx_heap_create(NULL, &heap) == 0);
    int n = strategy_names();
    for (int s = CMODX_SYNC_AUTO + 1; s <= n; s++)
        run((enum cmodx_strategy)s);
    cmodx_heap_destroy(heap);
    return check_finish("test_threads");
}
