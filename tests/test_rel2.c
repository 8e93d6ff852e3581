/*
 * tests/test_rel2.c - object lifetimes and re-entry (issue 12, the items
 * left open by the first two deliveries).  Each mode asserts the right
 * value:
 *
 *   destroy S    a domain (strategy S) with initialised slots is not
 *                destroyed: EBUSY naming how many, and the refused call
 *                changed nothing (its slots call and publish, a thread
 *                registers, a batch commits, synchronize works); once the
 *                slots are finished it is destroyed.  A heap a domain
 *                frees into is not destroyed either (EBUSY) and still
 *                allocates.
 *   hook S       a free hook that calls back into its own domain
 *                (cmodx_retire, cmodx_slot_publish, cmodx_synchronize,
 *                cmodx_block_free, cmodx_reclaim_get_stats,
 *                cmodx_reclaim_poll, cmodx_debug_set_free_hook,
 *                cmodx_slot_init/fini) returns what the same call returns
 *                outside a hook, never deadlocks; cmodx_domain_destroy of
 *                the hook's own domain from the hook is EDEADLK; the hook
 *                sees the block still allocated; cmodx_synchronize from
 *                another thread returns only once the blocks it covers
 *                are freed (hooks included).
 *
 * A hang is the failure these modes look for: a watchdog (alarm) turns it
 * into an exit with a message.  Its bound is generous (a deadlock is
 * permanent; a slow machine only delays success).
 */
#define _GNU_SOURCE
#include <cmodx/cmodx.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"

static const char *hang_what = "?";

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "test_rel2: HANG (DEADLOCK) in: ";
    if (write(2, m, sizeof m - 1) < 0 || write(2, hang_what, strlen(hang_what)) < 0 ||
        write(2, "\n", 1) < 0) {
    }
    _exit(99);
}

static void watchdog(const char *what, unsigned seconds)
{
    const char *env = getenv("TEST_WATCHDOG_S");
    if (env && atoi(env) > 0)
        seconds = (unsigned)atoi(env);
    hang_what = what;
    signal(SIGALRM, on_alarm);
    alarm(seconds);
}

/* A domain of strategy S on heap H, or NULL when S is unavailable here. */
static cmodx_domain *domain_or_skip(enum cmodx_strategy s, cmodx_heap *h, const char *mode)
{
    struct cmodx_domain_config c = {.strategy = s, .heap = h, .max_trampoline_slots = 64};
    cmodx_domain *d = NULL;
    int err = cmodx_domain_create(&c, &d);
    if (err == ENOSYS || err == EPERM || err == EOPNOTSUPP || err == ENOTSUP) {
        printf("%s %s: strategy unavailable here (%d), skipped\n", mode, cmodx_strategy_name(s),
               err);
        return NULL;
    }
    REQUIRE(err == 0);
    return d;
}

/* ---- destroy ------------------------------------------------------------------ */

static cmodx_domain *dd;

static void *register_and_call(void *arg)
{
    cmodx_slot *s = arg;
    cmodx_thread *self = NULL;
    REQUIRE(cmodx_thread_register(dd, &self) == 0);
    uint32_t v = CMODX_CALL(ret_fn, s, self);
    cmodx_quiescent(self);
    CHECK_EQ(cmodx_thread_unregister(dd), 0);
    return (void *)(uintptr_t)v;
}

static void test_destroy(enum cmodx_strategy st)
{
    watchdog("destroy", 120);
    cmodx_heap *h = NULL;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    cmodx_domain *d = domain_or_skip(st, h, "destroy");
    if (!d) {
        CHECK_EQ(cmodx_heap_destroy(h), 0);
        return;
    }
    dd = d;
    cmodx_thread *self = NULL;
    REQUIRE(cmodx_thread_register(d, &self) == 0);
    cmodx_slot a, b;
    cmodx_xptr a1 = make_fn(h, 1), b1 = make_fn(h, 2);
    REQUIRE(cmodx_make_visible(a1, 16) == 0 && cmodx_make_visible(b1, 16) == 0);
    REQUIRE(cmodx_slot_init(d, &a, a1) == 0);
    REQUIRE(cmodx_slot_init(d, &b, b1) == 0);

    /* Refused, with the count named, and the caller still registered. */
    CHECK_EQ(cmodx_domain_destroy(d), EBUSY);
    CHECK(strstr(cmodx_last_error(), "2 slot(s)") != NULL);
    /* The heap the domain frees into is not destroyed either. */
    CHECK_EQ(cmodx_heap_destroy(h), EBUSY);
    cmodx_block spare;
    CHECK_EQ(cmodx_block_alloc(h, 64, &spare), 0);
    CHECK_EQ(cmodx_block_free(h, spare.exec), 0);

    /* Fully usable: calls, publishes (retiring the old block), a second
     * thread registers and calls, a batch commits, synchronize frees. */
    CHECK_EQ(CMODX_CALL(ret_fn, &a, self), 1);
    cmodx_quiescent(self);
    CHECK_EQ(publish_retrying(&a, make_fn(h, 11), 16, CMODX_RETIRE_OLD, NULL), 0);
    CHECK_EQ(CMODX_CALL(ret_fn, &a, self), 11);
    cmodx_quiescent(self);
    pthread_t th;
    void *got = NULL;
    REQUIRE(pthread_create(&th, NULL, register_and_call, &b) == 0);
    pthread_join(th, &got);
    CHECK_EQ((uintptr_t)got, 2);
    cmodx_batch *bt = NULL;
    REQUIRE(cmodx_batch_begin(d, &bt) == 0);
    CHECK_EQ(cmodx_batch_add(bt, &b, make_fn(h, 12), 16, CMODX_RETIRE_OLD), 0);
    int err;
    while ((err = cmodx_batch_commit(bt, NULL)) == ETIMEDOUT) {
        REQUIRE(cmodx_batch_begin(d, &bt) == 0);
        CHECK_EQ(cmodx_batch_add(bt, &b, make_fn(h, 12), 16, CMODX_RETIRE_OLD), 0);
    }
    CHECK_EQ(err, 0);
    CHECK_EQ(CMODX_CALL(ret_fn, &b, self), 12);
    cmodx_quiescent(self);
    CHECK_EQ(synchronize_retrying(d, 2000), 0);
    struct cmodx_reclaim_stats rs;
    cmodx_reclaim_get_stats(d, &rs);
    CHECK_EQ(rs.pending_blocks, 0);
    CHECK_EQ(rs.freed_blocks, 2);

    /* One slot left: still refused, named. */
    cmodx_slot_fini(&a);
    CHECK_EQ(cmodx_domain_destroy(d), EBUSY);
    CHECK(strstr(cmodx_last_error(), "1 slot(s)") != NULL);
    CHECK_EQ(CMODX_CALL(ret_fn, &b, self), 12);
    cmodx_quiescent(self);
    cmodx_slot_fini(&b);
    /* No slot left: destroyed (the caller's registration goes with it). */
    CHECK_EQ(cmodx_domain_destroy(d), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

/* ---- hook --------------------------------------------------------------------- */

/* What the hook does when it runs, and what it saw. */
enum hook_call {
    H_RETIRE,
    H_PUBLISH,
    H_SYNCHRONIZE,
    H_BLOCK_FREE,
    H_STATS,
    H_POLL,
    H_SET_HOOK,
    H_SLOT,
    H_DESTROY,
    H_CALLS
};
static const char *const hook_call_name[H_CALLS] = {
    "cmodx_retire", "cmodx_slot_publish", "cmodx_synchronize", "cmodx_block_free",
    "cmodx_reclaim_get_stats", "cmodx_reclaim_poll", "cmodx_debug_set_free_hook",
    "cmodx_slot_init/fini", "cmodx_domain_destroy"};

static struct {
    cmodx_domain *d;
    cmodx_heap *h;
    cmodx_slot *slot;
    enum hook_call what;
    int armed;          /* the next hook call makes WHAT (once) */
    int result;         /* its return value */
    int calls;          /* hooks run */
    int saw_unallocated; /* a hook ran for a block the heap no longer held */
    cmodx_xptr spare;   /* a live block no slot targets, for retire / free */
} hk;

static void second_hook(void *arg, cmodx_xptr block)
{
    (void)arg;
    (void)block;
}

static void hook(void *arg, cmodx_xptr block)
{
    (void)arg;
    hk.calls++;
    /* Still allocated: not trap-filled yet (the fill comes with the free). */
    unsigned char trap[16];
    cmodx_emit_trap_fill((cmodx_wptr){trap}, sizeof trap);
    if (!memcmp(block.ptr, trap, sizeof trap))
        hk.saw_unallocated++;
    if (!hk.armed)
        return;
    hk.armed = 0;
    switch (hk.what) {
    case H_RETIRE:
        hk.result = cmodx_retire(hk.d, hk.spare);
        break;
    case H_PUBLISH:
        hk.result = publish_retrying(hk.slot, make_fn(hk.h, 40), 16, CMODX_RETIRE_OLD, NULL);
        break;
    case H_SYNCHRONIZE:
        hk.result = synchronize_retrying(hk.d, 2000);
        break;
    case H_BLOCK_FREE:
        hk.result = cmodx_block_free(hk.h, hk.spare);
        break;
    case H_STATS: {
        struct cmodx_reclaim_stats rs;
        memset(&rs, 0xff, sizeof rs);
        cmodx_reclaim_get_stats(hk.d, &rs);
        /* The block whose hook runs is counted as freed already. */
        hk.result = rs.freed_blocks >= 1 && rs.pending_blocks < 1000 ? 0 : -1;
        break;
    }
    case H_POLL:
        hk.result = (int)cmodx_reclaim_poll(hk.d) >= 0 ? 0 : -1;
        break;
    case H_SET_HOOK:
        cmodx_debug_set_free_hook(hk.d, second_hook, NULL);
        cmodx_debug_set_free_hook(hk.d, hook, NULL);
        hk.result = 0;
        break;
    case H_SLOT: {
        cmodx_slot t;
        hk.result = cmodx_slot_init(hk.d, &t, hk.spare);
        cmodx_slot_fini(&t);
        break;
    }
    case H_DESTROY:
        hk.result = cmodx_domain_destroy(hk.d);
        break;
    case H_CALLS:
        break;
    }
}

/* Publish into SLOT with CMODX_RETIRE_OLD, then synchronize: the old
 * block's grace period completes and its hook runs (in this thread). */
static void churn(cmodx_thread *self, uint32_t v)
{
    CHECK_EQ(publish_retrying(hk.slot, make_fn(hk.h, v), 16, CMODX_RETIRE_OLD, NULL), 0);
    /* The old block may be freed (and its hook run) within the publish:
     * a hook that publishes has then switched the slot again. */
    uint32_t want = hk.what == H_PUBLISH && !hk.armed && hk.result == 0 ? 40 : v;
    CHECK_EQ(CMODX_CALL(ret_fn, hk.slot, self), want);
    cmodx_quiescent(self);
    CHECK_EQ(synchronize_retrying(hk.d, 2000), 0);
}

/* Another thread's cmodx_synchronize while this one runs a slow hook: it
 * returns only once the blocks it covers are freed. */
static volatile int slow_hook_in, slow_hook_go;

static void slow_hook(void *arg, cmodx_xptr block)
{
    (void)arg;
    (void)block;
    __atomic_store_n(&slow_hook_in, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&slow_hook_go, __ATOMIC_ACQUIRE))
        usleep(1000);
}

static void *sync_other(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&slow_hook_in, __ATOMIC_ACQUIRE))
        usleep(1000);
    int err = synchronize_retrying(hk.d, 2000);
    /* Still inside the first thread's hook: the block it frees after the
     * hook is counted as freed, but not yet back in the heap.  Returning
     * now would break cmodx_synchronize's promise. */
    struct cmodx_heap_stats hs;
    cmodx_heap_get_stats(hk.h, &hs);
    return (void *)(uintptr_t)(err == 0 ? hs.live_blocks : 1000000u);
}

static void *release_later(void *arg)
{
    (void)arg;
    usleep(200000); /* lets sync_other reach its wait, if it would return early */
    __atomic_store_n(&slow_hook_go, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_hook(enum cmodx_strategy st)
{
    watchdog("a free hook calling back into its domain", 120);
    memset(&hk, 0, sizeof hk);
    REQUIRE(cmodx_heap_create(NULL, &hk.h) == 0);
    hk.d = domain_or_skip(st, hk.h, "hook");
    if (!hk.d) {
        CHECK_EQ(cmodx_heap_destroy(hk.h), 0);
        return;
    }
    cmodx_thread *self = NULL;
    REQUIRE(cmodx_thread_register(hk.d, &self) == 0);
    static cmodx_slot slot;
    hk.slot = &slot;
    cmodx_xptr first = make_fn(hk.h, 1);
    REQUIRE(cmodx_make_visible(first, 16) == 0);
    REQUIRE(cmodx_slot_init(hk.d, &slot, first) == 0);
    cmodx_debug_set_free_hook(hk.d, hook, NULL);
    uint32_t v = 100;
    for (int w = 0; w < H_CALLS; w++) {
        hang_what = hook_call_name[w];
        hk.spare = make_fn(hk.h, 77);
        REQUIRE(cmodx_make_visible(hk.spare, 16) == 0);
        hk.what = (enum hook_call)w;
        hk.result = -12345;
        hk.armed = 1;
        churn(self, v++);
        CHECK_EQ(hk.armed, 0); /* the hook ran within the synchronize */
        int want = w == H_DESTROY ? EDEADLK : 0;
        if (hk.result != want)
            fprintf(stderr, "hook calling %s: %d (%s)\n", hook_call_name[w], hk.result,
                    cmodx_last_error());
        CHECK_EQ(hk.result, want);
        if (w == H_DESTROY)
            CHECK(strstr(cmodx_last_error(), "free hook") != NULL);
        if (w != H_RETIRE && w != H_BLOCK_FREE) {
            CHECK_EQ(cmodx_retire(hk.d, hk.spare), 0);
        }
        /* The domain still works after each. */
        CHECK_EQ(CMODX_CALL(ret_fn, &slot, self), w == H_PUBLISH ? 40 : v - 1);
        cmodx_quiescent(self);
        hk.what = H_CALLS; /* the hook does nothing more */
        if (w == H_PUBLISH)
            churn(self, v++);
    }
    CHECK_EQ(synchronize_retrying(hk.d, 2000), 0);
    CHECK_EQ(hk.saw_unallocated, 0);
    CHECK(hk.calls >= H_CALLS);
    struct cmodx_reclaim_stats rs;
    cmodx_reclaim_get_stats(hk.d, &rs);
    CHECK_EQ(rs.pending_blocks, 0);
    struct cmodx_heap_stats hs;
    cmodx_heap_get_stats(hk.h, &hs);
    CHECK_EQ(hs.live_blocks, 1); /* the slot's block; every retired one freed */

    /* cmodx_synchronize of another thread waits for this thread's hook. */
    cmodx_debug_set_free_hook(hk.d, slow_hook, NULL);
    pthread_t a, b;
    void *live = NULL;
    /* Started first: the hook may already run inside the publish. */
    REQUIRE(pthread_create(&a, NULL, sync_other, NULL) == 0);
    REQUIRE(pthread_create(&b, NULL, release_later, NULL) == 0);
    CHECK_EQ(publish_retrying(&slot, make_fn(hk.h, 500), 16, CMODX_RETIRE_OLD, NULL), 0);
    CHECK_EQ(CMODX_CALL(ret_fn, &slot, self), 500);
    cmodx_quiescent(self);
    CHECK_EQ(synchronize_retrying(hk.d, 2000), 0);
    pthread_join(a, &live);
    pthread_join(b, NULL);
    CHECK_EQ((uintptr_t)live, 1); /* only the slot's block is live */

    cmodx_debug_set_free_hook(hk.d, NULL, NULL);
    cmodx_slot_fini(&slot);
    CHECK_EQ(cmodx_domain_destroy(hk.d), 0);
    CHECK_EQ(cmodx_heap_destroy(hk.h), 0);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "destroy";
    int parsed = cmodx_strategy_parse(argc > 2 ? argv[2] : "epoch");
    if (parsed < 0) {
        fprintf(stderr, "test_rel2: unknown strategy %s\n", argv[2]);
        return 2;
    }
    enum cmodx_strategy st = (enum cmodx_strategy)parsed;
    if (!strcmp(mode, "destroy"))
        test_destroy(st);
    else if (!strcmp(mode, "hook"))
        test_hook(st);
    else {
        fprintf(stderr, "test_rel2: unknown mode %s\n", mode);
        return 2;
    }
    return check_finish("test_rel2");
}
