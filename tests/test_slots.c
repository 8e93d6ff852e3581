/* 4+ caller threads call through slots while a writer publishes thousands
 * of versions, retiring the old blocks: every call returns a version that
 * was published, and per thread a slot's versions never go backwards.
 * usage: test_slots STRATEGY [versions] [callers] */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "check.h"
#include "testutil.h"

#define NSLOTS 3

static cmodx_domain *dom;
static cmodx_heap *heap;
static cmodx_slot slots[NSLOTS];
static uint32_t started[NSLOTS]; /* highest version whose publish began */
static int done;
static unsigned long bad_calls, backwards, total_calls;
static int running; /* callers that made their first calls */

/* Version ids carry the slot in the top byte so cross-slot mixups show. */
static uint32_t id_of(int slot, uint32_t version) { return ((uint32_t)slot << 24) | version; }

static void *caller(void *arg)
{
    (void)arg;
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(dom, &self) == 0);
    uint32_t last[NSLOTS] = {0};
    unsigned long calls = 0, bad = 0, back = 0;
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        for (int s = 0; s < NSLOTS; s++) {
            uint32_t r = CMODX_CALL(uint32_t (*)(void), &slots[s], self);
            uint32_t hi = __atomic_load_n(&started[s], __ATOMIC_ACQUIRE);
            uint32_t v = r & 0xffffff;
            if ((r >> 24) != (uint32_t)s || v > hi)
                bad++;
            if (v < last[s])
                back++;
            last[s] = v;
            calls++;
        }
        if (calls == NSLOTS)
            __atomic_fetch_add(&running, 1, __ATOMIC_RELEASE);
        cmodx_quiescent(self);
        if (calls % 4096 == 0) { /* sometimes go offline for a moment */
            cmodx_thread_offline(self);
            sched_yield();
            cmodx_thread_online(self);
        }
    }
    __atomic_fetch_add(&total_calls, calls, __ATOMIC_RELAXED);
    __atomic_fetch_add(&bad_calls, bad, __ATOMIC_RELAXED);
    __atomic_fetch_add(&backwards, back, __ATOMIC_RELAXED);
    CHECK(cmodx_thread_unregister(dom) == 0);
    return NULL;
}

static cmodx_xptr make_version(int s, uint32_t v)
{
    return make_fn(heap, id_of(s, v));
}

int main(int argc, char **argv)
{
    int strat = cmodx_strategy_parse(argc > 1 ? argv[1] : "auto");
    uint32_t versions = argc > 2 ? (uint32_t)atoi(argv[2]) : 2000;
    int ncallers = argc > 3 ? atoi(argv[3]) : 4;
    REQUIRE(strat >= 0);
    struct cmodx_heap_config hc = {.chunk_bytes = 64 * 1024, .limit_bytes = 4 << 20};
    REQUIRE(cmodx_heap_create(&hc, &heap) == 0);
    struct cmodx_domain_config dc = {.strategy = (enum cmodx_strategy)strat, .heap = heap,
                                     .retired_limit_bytes = 256 * 1024};
    int err = cmodx_domain_create(&dc, &dom);
    if (err == ENOTSUP && strat == CMODX_SYNC_MPROTECT) {
        /* Refused where its premise cannot be established (a hypervisor's
         * paravirtual TLB flush, INVLPGB): skipped, not failed. */
        printf("skipped: %s\n", cmodx_last_error());
        return 77;
    }
    if (err) {
        fprintf(stderr, "domain: %s\n", cmodx_last_error());
        return 1;
    }
    printf("strategy %s, %u versions, %d callers\n", cmodx_strategy_name(cmodx_domain_strategy(dom)),
           versions, ncallers);
    for (int s = 0; s < NSLOTS; s++) {
        cmodx_xptr v0 = make_version(s, 0);
        REQUIRE(cmodx_make_visible(v0, 16) == 0);
        REQUIRE(cmodx_slot_init(dom, &slots[s], v0) == 0);
    }
    pthread_t th[16];
    for (int i = 0; i < ncallers; i++)
        pthread_create(&th[i], NULL, caller, NULL);
    while (__atomic_load_n(&running, __ATOMIC_ACQUIRE) < ncallers)
        sched_yield(); /* publish while every caller is calling */
    for (uint32_t v = 1; v <= versions; v++) {
        int s = (int)(v % NSLOTS);
        cmodx_xptr code = make_version(s, v);
        __atomic_store_n(&started[s], v, __ATOMIC_RELEASE);
        err = publish_retrying(&slots[s], code, cmodx_emit_return_u32_size(), CMODX_RETIRE_OLD,
                               NULL);
        if (err) {
            fprintf(stderr, "publish %u: %s\n", v, cmodx_last_error());
            check_failures++;
            break;
        }
    }
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < ncallers; i++)
        pthread_join(th[i], NULL);
    struct cmodx_reclaim_stats rs;
    cmodx_reclaim_get_stats(dom, &rs);
    printf("calls %lu, bad %lu, backwards %lu, publishes %llu, grace periods %llu, freed %llu\n",
           total_calls, bad_calls, backwards, (unsigned long long)rs.publishes,
           (unsigned long long)rs.grace_periods, (unsigned long long)rs.freed_blocks);
    CHECK_EQ(bad_calls, 0);
    CHECK_EQ(backwards, 0);
    CHECK(total_calls > 0);
    CHECK_EQ(rs.publishes, versions);
    CHECK(synchronize_retrying(dom, 10000) == 0);
    cmodx_reclaim_get_stats(dom, &rs);
    CHECK_EQ(rs.pending_blocks, 0);
    CHECK_EQ(rs.freed_blocks, versions); /* every replaced block, once */
    CHECK_EQ(count_wx_mappings(), 0);
    /* Live slots keep the domain (EBUSY); finished, it goes. */
    CHECK_EQ(cmodx_domain_destroy(dom), EBUSY);
    for (int s = 0; s < NSLOTS; s++)
        cmodx_slot_fini(&slots[s]);
    CHECK(cmodx_domain_destroy(dom) == 0);
    cmodx_heap_destroy(heap);
    return check_finish("test_slots");
}
