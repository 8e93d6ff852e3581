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
 *   parkdestroy  a thread online in domain E calls cmodx_domain_destroy(D)
 *                while a signal-strategy writer of D holds D's locks for
 *                a silent thread's acknowledgement (a long timeout):
 *                cmodx_synchronize(E, 0) in the main thread returns (the
 *                destroyer parked before any lock); the destroyer,
 *                cancelled meanwhile, finishes its call (EBUSY: others
 *                are registered) and is cancelled after it, with no lock
 *                of D left held (D is destroyed afterwards)
 *   parkunreg    the same with cmodx_thread_unregister(D) (the thread
 *                list lock)
 *   cancelpend   a thread with a cancellation pending creates and
 *                destroys a signal-strategy domain (signal_lock), and an
 *                mprotect-strategy one with a publish (mprotect_lock)
 *                where that strategy is available: it is cancelled at its
 *                own cancellation point afterwards, and those locks are
 *                free (the main thread does the same afterwards)
 *   trampid      trampoline ids after cmodx_slot_fini: a thread that
 *                loaded a slot's stub before the slot was finished and
 *                calls it afterwards runs the slot's last target, never the
 *                code of the slot that gets the id next; the id is reused
 *                only after that thread passed a quiescent state (an init
 *                that needs it waits; with a thread that never passes one,
 *                ETIMEDOUT and an unusable slot); the new owner's callers
 *                run its code
 *   forksig      a signal handler forks while its thread is inside
 *                cmodx_synchronize (waiting for an online thread): the fork
 *                returns (no hang), the child finds the library unusable
 *                (ENOTRECOVERABLE from cmodx_synchronize, cmodx_block_alloc,
 *                cmodx_heap_create, cmodx_slot_publish) and exits 42, the
 *                parent's call goes on and returns 0 once the online thread
 *                quiesces; a handler forking while its thread is outside
 *                the library gets a usable child (exit 43)
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
    test_watchdog("destroy", 120);
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
    test_watchdog("a free hook calling back into its domain", 120);
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
        test_hang_what = hook_call_name[w];
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

/* ---- parkdestroy, parkunreg --------------------------------------------------- */

/* D: signal strategy, a long acknowledgement timeout; E: epoch. */
static struct {
    cmodx_domain *d, *e;
    cmodx_heap *h;
    cmodx_slot slot;
    int sig;
    int unreg;            /* parkunreg: the victim unregisters instead */
    int victim_ready;     /* registered in E (and D), online */
    int victim_go;        /* the writer waits: make the call */
    int victim_result;    /* what its call returned */
    int writer_done;
} pk;

static void *pk_writer(void *arg)
{
    (void)arg;
    REQUIRE(cmodx_thread_register(pk.d, NULL) == 0);
    /* Waits (holding D's writer and thread-list locks) for the silent
     * thread's acknowledgement until it is released. */
    int err = publish_retrying(&pk.slot, make_fn(pk.h, 2), 16, 0, NULL);
    CHECK_EQ(err, 0);
    CHECK_EQ(cmodx_thread_unregister(pk.d), 0);
    __atomic_store_n(&pk.writer_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* A thread that is cancelled keeps no address-taken local in the frame
 * its cancellation unwinds (AddressSanitizer does not unpoison a frame
 * that a forced unwind leaves): the registration is made here. */
static __attribute__((noinline)) void pk_register(void)
{
    cmodx_thread *self_e = NULL;
    REQUIRE(cmodx_thread_register(pk.e, &self_e) == 0);
}

static void *pk_victim(void *arg)
{
    (void)arg;
    pk_register();
    if (pk.unreg)
        REQUIRE(cmodx_thread_register(pk.d, NULL) == 0);
    __atomic_store_n(&pk.victim_ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&pk.victim_go, __ATOMIC_ACQUIRE))
        usleep(1000);
    /* Online in E and never quiescent there: only parking lets E's
     * grace period complete while we wait for D's locks. */
    int err = pk.unreg ? cmodx_thread_unregister(pk.d) : cmodx_domain_destroy(pk.d);
    __atomic_store_n(&pk.victim_result, err, __ATOMIC_RELEASE);
    pthread_testcancel(); /* the cancellation sent while we waited acts here */
    CHECK(0 && "the victim was not cancelled");
    return NULL;
}

static void test_park(int unreg)
{
    test_watchdog(unreg ? "cmodx_thread_unregister parked" : "cmodx_domain_destroy parked", 60);
    memset(&pk, 0, sizeof pk);
    pk.unreg = unreg;
    pk.sig = SIGRTMIN + 7;
    REQUIRE(cmodx_heap_create(NULL, &pk.h) == 0);
    /* The acknowledgement timeout outlasts the watchdog: a thread that
     * waits for D's locks while online in E holds E up until the watchdog
     * fires. */
    struct cmodx_domain_config cd = {.strategy = CMODX_SYNC_SIGNAL, .heap = pk.h,
                                     .signal_number = pk.sig, .signal_timeout_ms = 600000};
    REQUIRE(cmodx_domain_create(&cd, &pk.d) == 0);
    struct cmodx_domain_config ce = {.strategy = CMODX_SYNC_EPOCH};
    REQUIRE(cmodx_domain_create(&ce, &pk.e) == 0);
    cmodx_xptr v1 = make_fn(pk.h, 1);
    REQUIRE(cmodx_make_visible(v1, 16) == 0);
    REQUIRE(cmodx_slot_init(pk.d, &pk.slot, v1) == 0);

    struct silent_thread silent;
    silent_start(&silent, pk.d, pk.sig);
    pthread_t w, x;
    /* The victim registers first (registration takes D's writer lock). */
    REQUIRE(pthread_create(&x, NULL, pk_victim, NULL) == 0);
    while (!__atomic_load_n(&pk.victim_ready, __ATOMIC_ACQUIRE))
        usleep(1000);
    REQUIRE(pthread_create(&w, NULL, pk_writer, NULL) == 0);
    usleep(200000); /* the writer reaches its acknowledgement wait */
    __atomic_store_n(&pk.victim_go, 1, __ATOMIC_RELEASE);
    usleep(200000); /* the victim blocks on D's lock */
    /* E's grace period: the victim is online in E but parked. */
    test_hang_what = "cmodx_synchronize(E, 0) while a thread of E waits for D's locks";
    CHECK_EQ(cmodx_synchronize(pk.e, 0), 0);
    CHECK_EQ(__atomic_load_n(&pk.writer_done, __ATOMIC_ACQUIRE), 0); /* still waiting */
    /* Cancelled inside the call: it finishes the call, then goes. */
    CHECK_EQ(pthread_cancel(x), 0);
    test_hang_what = "after the cancellation of a thread inside the library";
    silent_release(&silent);
    void *ret = NULL;
    pthread_join(w, NULL);
    pthread_join(x, &ret);
    CHECK(ret == PTHREAD_CANCELED);
    /* destroy: EBUSY (the writer or the silent thread was registered);
     * unregister: 0. */
    CHECK_EQ(__atomic_load_n(&pk.victim_result, __ATOMIC_ACQUIRE), unreg ? 0 : EBUSY);
    /* No lock of D is left held: it publishes, and goes. */
    CHECK_EQ(publish_retrying(&pk.slot, make_fn(pk.h, 3), 16, CMODX_RETIRE_OLD, NULL), 0);
    cmodx_slot_fini(&pk.slot);
    CHECK_EQ(cmodx_domain_destroy(pk.d), 0);
    CHECK_EQ(cmodx_domain_destroy(pk.e), 0);
    CHECK_EQ(cmodx_heap_destroy(pk.h), 0);
}

/* ---- cancelpend --------------------------------------------------------------- */

static volatile int cp_steps;

static __thread int cp_old;

/* The calls, in a frame of their own: the thread's cancellation unwinds
 * only frames without address-taken locals (as pk_register). */
static __attribute__((noinline)) void cp_calls(void)
{
    struct cmodx_domain_config cs = {.strategy = CMODX_SYNC_SIGNAL, .signal_number = SIGRTMIN + 8};
    cmodx_domain *d = NULL;
    if (cmodx_domain_create(&cs, &d) == 0) {
        cp_steps = 1;
        cmodx_domain_destroy(d);
        cp_steps = 2;
    }
    struct cmodx_domain_config cm = {.strategy = CMODX_SYNC_MPROTECT};
    if (cmodx_domain_create(&cm, &d) == 0) {
        cmodx_slot s;
        cmodx_xptr a = {(const void *)(uintptr_t)cp_calls};
        if (cmodx_slot_init(d, &s, a) == 0) {
            cmodx_slot_publish(&s, a, 1, 0, NULL);
            cmodx_slot_fini(&s);
        }
        cmodx_domain_destroy(d);
        cp_steps = 3;
    }
}

static void *cp_thread(void *arg)
{
    int *go = arg;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cp_old);
    while (!__atomic_load_n(go, __ATOMIC_ACQUIRE))
        usleep(1000);
    /* The cancellation is pending now: enabled, it acts at the next
     * cancellation point, which must not be inside a locked section. */
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &cp_old);
    cp_calls();
    pthread_testcancel();
    return NULL;
}

static void test_cancelpend(void)
{
    test_watchdog("a thread cancelled with a cancellation pending inside the library", 60);
    int go = 0;
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, cp_thread, &go) == 0);
    CHECK_EQ(pthread_cancel(t), 0);
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    void *ret = NULL;
    pthread_join(t, &ret);
    CHECK(ret == PTHREAD_CANCELED);
    printf("cancelpend: the cancelled thread got to step %d\n", cp_steps);
    /* signal_lock and mprotect_lock are free: the same calls succeed. */
    struct cmodx_domain_config cs = {.strategy = CMODX_SYNC_SIGNAL, .signal_number = SIGRTMIN + 8};
    cmodx_domain *d = NULL;
    CHECK_EQ(cmodx_domain_create(&cs, &d), 0);
    CHECK_EQ(cmodx_domain_destroy(d), 0);
    struct cmodx_domain_config cm = {.strategy = CMODX_SYNC_MPROTECT};
    int err = cmodx_domain_create(&cm, &d);
    if (err == 0) {
        cmodx_slot s;
        cmodx_xptr a = {(const void *)(uintptr_t)cp_thread};
        CHECK_EQ(cmodx_slot_init(d, &s, a), 0);
        CHECK_EQ(publish_retrying(&s, a, 1, 0, NULL), 0);
        cmodx_slot_fini(&s);
        CHECK_EQ(cmodx_domain_destroy(d), 0);
    } else {
        printf("cancelpend: mprotect strategy unavailable here (%d)\n", err);
    }
}

/* ---- trampid ------------------------------------------------------------------ */

static struct {
    cmodx_domain *d;
    cmodx_slot *slots;
    uint32_t n;
    int phase;         /* 1: the caller holds slot 0's stub; 2: slot 0 is finished */
    int quiesce;       /* the caller may pass its quiescent state */
    uint32_t got;      /* what the held stub returned */
    uint32_t got_new;  /* what a call through the new owner returned */
    cmodx_slot *newslot;
    int new_ready;
} tid;

static uint32_t tid_old(void) { return 1; }
static uint32_t tid_new(void) { return 2; }

static void *tid_caller(void *arg)
{
    (void)arg;
    cmodx_thread *self = NULL;
    REQUIRE(cmodx_thread_register(tid.d, &self) == 0);
    /* Never called through yet: the copy is slot 0's stub. */
    ret_fn held = as_fn((cmodx_xptr){cmodx_slot_target_trampoline(&tid.slots[0], self)});
    __atomic_store_n(&tid.phase, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&tid.phase, __ATOMIC_ACQUIRE) < 2)
        usleep(1000);
    /* Slot 0 is finished (and another init may be waiting for its id):
     * the stub we hold must run slot 0's last target. */
    tid.got = held();
    while (!__atomic_load_n(&tid.quiesce, __ATOMIC_ACQUIRE))
        usleep(1000);
    cmodx_quiescent(self);
    while (!__atomic_load_n(&tid.new_ready, __ATOMIC_ACQUIRE)) {
        usleep(1000);
        cmodx_quiescent(self);
    }
    tid.got_new = CMODX_CALL(ret_fn, tid.newslot, self);
    cmodx_quiescent(self);
    CHECK_EQ(cmodx_thread_unregister(tid.d), 0);
    return NULL;
}

static void test_trampid(void)
{
    test_watchdog("trampoline ids after cmodx_slot_fini", 120);
    memset(&tid, 0, sizeof tid);
    struct cmodx_domain_config c = {.strategy = CMODX_SYNC_TRAMPOLINE, .max_trampoline_slots = 1,
                                    .grace_timeout_ms = 300};
    cmodx_domain *d = domain_or_skip(CMODX_SYNC_TRAMPOLINE, NULL, "trampid");
    if (!d)
        return;
    CHECK_EQ(cmodx_domain_destroy(d), 0);
    REQUIRE(cmodx_domain_create(&c, &tid.d) == 0);
    /* Every id in use (the capacity is rounded up to a copy page). */
    cmodx_xptr old_fn = {(const void *)(uintptr_t)tid_old}, new_fn = {(const void *)(uintptr_t)tid_new};
    tid.slots = calloc(CMODX_TRAMPOLINE_PAGE * 2, sizeof *tid.slots);
    REQUIRE(tid.slots);
    while (tid.n < CMODX_TRAMPOLINE_PAGE * 2 && cmodx_slot_init(tid.d, &tid.slots[tid.n], old_fn) == 0)
        tid.n++;
    REQUIRE(tid.n > 0 && tid.n < CMODX_TRAMPOLINE_PAGE * 2);
    uint32_t id0 = tid.slots[0].id;
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, tid_caller, NULL) == 0);
    while (__atomic_load_n(&tid.phase, __ATOMIC_ACQUIRE) < 1)
        usleep(1000);
    cmodx_slot_fini(&tid.slots[0]);
    __atomic_store_n(&tid.phase, 2, __ATOMIC_RELEASE);
    /* The only id is slot 0's, and the caller has not passed a quiescent
     * state since the fini: the init waits for it, and gives up after the
     * domain's grace_timeout_ms (the caller never quiesces meanwhile). */
    static cmodx_slot s2, s3;
    test_hang_what = "cmodx_slot_init waiting for a finished id's grace period";
    CHECK_EQ(cmodx_slot_init(tid.d, &s2, new_fn), ETIMEDOUT);
    CHECK(strstr(cmodx_last_error(), "grace period") != NULL);
    CHECK_EQ(cmodx_slot_publish(&s2, new_fn, 1, 0, NULL), EINVAL); /* unusable */
    /* Now the caller quiesces (after its call through the old stub): the
     * init that waits gets the id. */
    __atomic_store_n(&tid.quiesce, 1, __ATOMIC_RELEASE);
    int err;
    while ((err = cmodx_slot_init(tid.d, &s3, new_fn)) == ETIMEDOUT)
        ; /* a slow machine: the caller has not run yet */
    CHECK_EQ(err, 0);
    CHECK_EQ(s3.id, id0);
    tid.newslot = &s3;
    __atomic_store_n(&tid.new_ready, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    CHECK_EQ(tid.got, 1);     /* the finished slot's last target, not the new owner's */
    CHECK_EQ(tid.got_new, 2); /* the new owner's callers run its code */
    cmodx_slot_fini(&s3);
    for (uint32_t i = 1; i < tid.n; i++)
        cmodx_slot_fini(&tid.slots[i]);
    free(tid.slots);
    CHECK_EQ(cmodx_domain_destroy(tid.d), 0);
}

/* ---- forksig ------------------------------------------------------------------ */

static struct {
    cmodx_domain *d;
    cmodx_heap *h;
    cmodx_slot slot;
    int release;        /* the online thread may quiesce */
    int in_sync;        /* the syncing thread is about to call cmodx_synchronize */
    int sync_result;
} fs;

/* The child: exit 42 if the library says it is unusable here, 43 if it
 * works (the handler interrupted the thread outside the library), 1 on
 * anything else.  _exit only: the child never returns into the frame the
 * signal interrupted. */
static void fs_child(void)
{
    cmodx_block b;
    int e1 = cmodx_synchronize(fs.d, 1);
    int e2 = cmodx_block_alloc(fs.h, 64, &b);
    if (e1 == ENOTRECOVERABLE && e2 == ENOTRECOVERABLE) {
        cmodx_heap *h2 = NULL;
        int e3 = cmodx_heap_create(NULL, &h2);
        int e4 = cmodx_slot_publish(&fs.slot, b.exec, 16, 0, NULL);
        _exit(e3 == ENOTRECOVERABLE && e4 == ENOTRECOVERABLE ? 42 : 1);
    }
    if (e2 == 0 && cmodx_block_free(fs.h, b.exec) == 0)
        _exit(43);
    _exit(1);
}

static void *fs_online(void *arg)
{
    (void)arg;
    cmodx_thread *self = NULL;
    REQUIRE(cmodx_thread_register(fs.d, &self) == 0);
    /* Online, never quiescent until released: a grace period waits. */
    while (!__atomic_load_n(&fs.release, __ATOMIC_ACQUIRE))
        usleep(1000);
    cmodx_quiescent(self);
    CHECK_EQ(cmodx_thread_unregister(fs.d), 0);
    return NULL;
}

static void *fs_syncer(void *arg)
{
    (void)arg;
    __atomic_store_n(&fs.in_sync, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&fs.sync_result, cmodx_synchronize(fs.d, 0), __ATOMIC_RELEASE);
    return NULL;
}

static void test_forksig(void)
{
    test_watchdog("fork() in a signal handler that interrupted cmodx_synchronize", 120);
    memset(&fs, 0, sizeof fs);
    handler_fork_install(SIGUSR1, fs_child);
    REQUIRE(cmodx_heap_create(NULL, &fs.h) == 0);
    struct cmodx_domain_config c = {.strategy = CMODX_SYNC_EPOCH, .heap = fs.h};
    REQUIRE(cmodx_domain_create(&c, &fs.d) == 0);
    cmodx_xptr v1 = make_fn(fs.h, 1);
    REQUIRE(cmodx_make_visible(v1, 16) == 0);
    REQUIRE(cmodx_slot_init(fs.d, &fs.slot, v1) == 0);
    pthread_t on, sy;
    REQUIRE(pthread_create(&on, NULL, fs_online, NULL) == 0);
    usleep(100000); /* registered and online */
    /* Outside the library: a usable child. */
    CHECK_EQ(handler_fork_in(pthread_self(), SIGUSR1), 43);
    fs.sync_result = -1;
    REQUIRE(pthread_create(&sy, NULL, fs_syncer, NULL) == 0);
    while (!__atomic_load_n(&fs.in_sync, __ATOMIC_ACQUIRE))
        usleep(1000);
    /* Inside cmodx_synchronize (it waits for the online thread for as
     * long as that one is held): an unusable child.  A child of 43 means
     * the signal came before the call began (a slow machine): again. */
    int st;
    for (int tries = 0; (st = handler_fork_in(sy, SIGUSR1)) == 43 && tries < 1000; tries++)
        usleep(10000);
    CHECK_EQ(st, 42);
    CHECK_EQ(__atomic_load_n(&fs.sync_result, __ATOMIC_ACQUIRE), -1); /* still waiting */
    /* The parent is unaffected: the call goes on and completes. */
    __atomic_store_n(&fs.release, 1, __ATOMIC_RELEASE);
    pthread_join(sy, NULL);
    pthread_join(on, NULL);
    CHECK_EQ(fs.sync_result, 0);
    CHECK_EQ(publish_retrying(&fs.slot, make_fn(fs.h, 2), 16, CMODX_RETIRE_OLD, NULL), 0);
    cmodx_slot_fini(&fs.slot);
    CHECK_EQ(cmodx_domain_destroy(fs.d), 0);
    CHECK_EQ(cmodx_heap_destroy(fs.h), 0);
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
    else if (!strcmp(mode, "parkdestroy"))
        test_park(0);
    else if (!strcmp(mode, "parkunreg"))
        test_park(1);
    else if (!strcmp(mode, "cancelpend"))
        test_cancelpend();
    else if (!strcmp(mode, "trampid"))
        test_trampid();
    else if (!strcmp(mode, "forksig"))
        test_forksig();
    else {
        fprintf(stderr, "test_rel2: unknown mode %s\n", mode);
        return 2;
    }
    return check_finish("test_rel2");
}
