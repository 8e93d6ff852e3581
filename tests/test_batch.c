/* Batches: many slots switched with ONE cross-thread synchronisation; a
 * batch that fails before the switch switches nothing. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"

#define N 200

static cmodx_heap *heap;


static void test_batch_switches_all(enum cmodx_strategy s)
{
    cmodx_domain *d;
    struct cmodx_domain_config c = {.strategy = s, .heap = heap};
    if (cmodx_domain_create(&c, &d) != 0)
        return;
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(d, &self) == 0);
    static cmodx_slot slots[N];
    for (int i = 0; i < N; i++) {
        cmodx_xptr v = make_fn(heap, (uint32_t)i);
        REQUIRE(cmodx_make_visible(v, 16) == 0);
        REQUIRE(cmodx_slot_init(d, &slots[i], v) == 0);
        CHECK_EQ(CMODX_CALL(ret_fn, &slots[i], self), i);
    }
    struct cmodx_reclaim_stats before, after;
    cmodx_reclaim_get_stats(d, &before);
    cmodx_batch *b;
    REQUIRE(cmodx_batch_begin(d, &b) == 0);
    for (int i = 0; i < N; i++)
        CHECK(cmodx_batch_add(b, &slots[i], make_fn(heap, 1000 + (uint32_t)i), 16, CMODX_RETIRE_OLD) == 0);
    cmodx_xptr old[N];
    CHECK(cmodx_batch_commit(b, old) == 0);
    cmodx_reclaim_get_stats(d, &after);
    if (s != CMODX_SYNC_TRAMPOLINE)
        CHECK_EQ(after.syncs - before.syncs, 1); /* one synchronisation for all */
    CHECK_EQ(after.publishes - before.publishes, N);
    for (int i = 0; i < N; i++)
        CHECK_EQ(CMODX_CALL(ret_fn, &slots[i], self), 1000 + i);
    CHECK(old[7].ptr != NULL);
    cmodx_quiescent(self);
    CHECK(synchronize_retrying(d, 5000) == 0);
    cmodx_reclaim_get_stats(d, &after);
    CHECK_EQ(after.pending_blocks, 0);
    CHECK(after.freed_blocks >= N);
    for (int i = 0; i < N; i++)
        cmodx_slot_fini(&slots[i]);
    CHECK(cmodx_domain_destroy(d) == 0);
}

static cmodx_domain *sigdom;

static void test_failed_batch_switches_nothing(void)
{
    int sig = SIGRTMIN + 7;
    struct cmodx_domain_config c = {.strategy = CMODX_SYNC_SIGNAL, .signal_number = sig,
                                    .signal_timeout_ms = 150, .heap = heap};
    REQUIRE(cmodx_domain_create(&c, &sigdom) == 0);
    static cmodx_slot slots[N];
    const void *orig[N];
    for (int i = 0; i < N; i++) {
        cmodx_xptr v = make_fn(heap, (uint32_t)i);
        REQUIRE(cmodx_make_visible(v, 16) == 0);
        REQUIRE(cmodx_slot_init(sigdom, &slots[i], v) == 0);
        orig[i] = v.ptr;
    }
    /* An invalid entry is refused at add time and the batch stays usable. */
    cmodx_batch *b;
    REQUIRE(cmodx_batch_begin(sigdom, &b) == 0);
    cmodx_slot stranger = {0};
    CHECK_EQ(cmodx_batch_add(b, &stranger, make_fn(heap, 1), 16, 0), EINVAL);
    CHECK_EQ(cmodx_batch_add(b, &slots[0], (cmodx_xptr){NULL}, 16, 0), EINVAL);
    for (int i = 0; i < N; i++)
        CHECK(cmodx_batch_add(b, &slots[i], make_fn(heap, 5000 + (uint32_t)i), 16, CMODX_RETIRE_OLD) == 0);
    /* The synchronisation fails midway (a thread never acknowledges). */
    struct silent_thread silent;
    silent_start(&silent, sigdom, sig);
    CHECK_EQ(cmodx_batch_commit(b, NULL), ETIMEDOUT);
    for (int i = 0; i < N; i++)
        CHECK(cmodx_slot_target_plain(&slots[i]) == orig[i]);
    struct cmodx_reclaim_stats rs;
    cmodx_reclaim_get_stats(sigdom, &rs);
    CHECK_EQ(rs.retired_blocks, 0);
    silent_release(&silent);
    for (int i = 0; i < N; i++)
        cmodx_slot_fini(&slots[i]);
    CHECK(cmodx_domain_destroy(sigdom) == 0);
}

int main(void)
{
    struct cmodx_heap_config hc = {.chunk_bytes = 1 << 20};
    REQUIRE(cmodx_heap_create(&hc, &heap) == 0);
    for (int s = CMODX_SYNC_MEMBARRIER; s <= CMODX_SYNC_MPROTECT; s++)
        test_batch_switches_all((enum cmodx_strategy)s);
    test_failed_batch_switches_nothing();
    cmodx_heap_destroy(heap);
    return check_finish("test_batch");
}
