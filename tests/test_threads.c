/* Threads come and go while the writer publishes: they register, call,
 * go offline, and half of them exit without unregistering.  A thread that
 * stays offline (blocked) never holds the writer up. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
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

int main(void)
{
    REQUIRE(cmodx_heap_create(NULL, &heap) == 0);
    for (int s = CMODX_SYNC_MEMBARRIER; s <= CMODX_SYNC_MPROTECT; s++)
        run((enum cmodx_strategy)s);
    cmodx_heap_destroy(heap);
    return check_finish("test_threads");
}
