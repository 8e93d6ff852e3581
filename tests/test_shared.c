/*
 * tests/test_shared.c - one heap shared by two domains, each with a
 * thread of its own, racing on the same blocks: a retirement in one
 * domain and a publish of the same block in the other.
 *
 * The retirer (domain R) allocates a block that returns 42, offers it in
 * a mailbox, and retires it (cmodx_retire) while the caller (domain C)
 * may be publishing its slot to it; then R's grace period frees every
 * block R retired (trap-filled).  The caller publishes its slot to the
 * offered block and, when that succeeded, calls through the slot: the
 * call must return 42, then the caller switches its slot back to its own
 * block.  Of the two racing calls one at least must see the other: a
 * retirement that succeeds while the slot is switched to the block would
 * let R free it under the caller (SIGTRAP, or another value), so either
 * the publish fails (EINVAL: retired meanwhile) or the retirement does
 * (EBUSY: a slot of another domain targets it; R retries it later).
 * The race is searched for, not forced: a fixed number of rounds, each
 * step counted, no time limit on the assertions (a slow machine runs the
 * same rounds, more slowly).
 */
#define _GNU_SOURCE
#include <cmodx/cmodx.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"

#define ROUNDS 4000
#define KEEP 64 /* blocks R waits to retire again (EBUSY) */

static cmodx_heap *heap;
static cmodx_domain *dr, *dc;
static const void *mailbox; /* atomic: the block offered, or NULL */
static int done;            /* atomic */
static unsigned long calls, publish_busy, retire_busy;

static void *caller(void *arg)
{
    (void)arg;
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(dc, &self) == 0);
    cmodx_xptr own = make_fn(heap, 7);
    REQUIRE(cmodx_make_visible(own, 64) == 0);
    cmodx_slot s;
    REQUIRE(cmodx_slot_init(dc, &s, own) == 0);
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        const void *x = __atomic_load_n(&mailbox, __ATOMIC_ACQUIRE);
        if (!x) {
            sched_yield();
            continue;
        }
        int e = publish_retrying(&s, (cmodx_xptr){x}, 16, 0, NULL);
        if (e == 0) {
            uint32_t v = CMODX_CALL(ret_fn, &s, self);
            CHECK_EQ(v, 42u);
            calls++;
            REQUIRE(publish_retrying(&s, own, 16, 0, NULL) == 0);
        } else {
            CHECK_EQ(e, EINVAL); /* retired (or freed) meanwhile */
            publish_busy++;
        }
    }
    cmodx_slot_fini(&s);
    cmodx_thread_unregister(dc);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    REQUIRE(cmodx_heap_create(NULL, &heap) == 0);
    struct cmodx_domain_config c = {.strategy = CMODX_SYNC_EPOCH, .heap = heap};
    REQUIRE(cmodx_domain_create(&c, &dr) == 0);
    REQUIRE(cmodx_domain_create(&c, &dc) == 0);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, caller, NULL) == 0);
    cmodx_xptr later[KEEP];
    size_t nlater = 0;
    for (int round = 0; round < ROUNDS; round++) {
        cmodx_xptr x = make_fn(heap, 42);
        REQUIRE(cmodx_make_visible(x, 64) == 0);
        __atomic_store_n(&mailbox, x.ptr, __ATOMIC_RELEASE);
        if (round % 3)
            sched_yield();
        int e = cmodx_retire(dr, x);
        __atomic_store_n(&mailbox, NULL, __ATOMIC_RELEASE);
        if (e == EBUSY) {
            retire_busy++;
            if (nlater == KEEP) {
                /* The caller has switched away from these by now or will:
                 * retried until they go. */
                for (size_t i = 0; i < nlater; i++)
                    while ((e = cmodx_retire(dr, later[i])) == EBUSY)
                        sched_yield();
                nlater = 0;
            }
            later[nlater++] = x;
            continue;
        }
        CHECK_EQ(e, 0);
        if (round % 8 == 0)
            REQUIRE(synchronize_retrying(dr, 0) == 0); /* frees (trap-fills) them */
    }
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    REQUIRE(pthread_join(th, NULL) == 0);
    for (size_t i = 0; i < nlater; i++)
        CHECK_EQ(cmodx_retire(dr, later[i]), 0);
    REQUIRE(synchronize_retrying(dr, 0) == 0);
    printf("test_shared: %lu calls through a raced block, %lu publishes refused, %lu "
           "retirements refused\n", calls, publish_busy, retire_busy);
    CHECK_EQ(cmodx_domain_destroy(dc), 0);
    CHECK_EQ(cmodx_domain_destroy(dr), 0);
    CHECK_EQ(cmodx_heap_destroy(heap), 0);
    return check_finish("test_shared");
}
