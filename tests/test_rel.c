/*
 * tests/test_rel.c - lifecycle edges found by review after issue 12's
 * first delivery: each mode is one kind of mistake, and asserts the
 * right value.
 *
 *   twofork S    two online threads of a domain of strategy S fork while
 *                the main thread's cmodx_synchronize(d, 0) waits for them:
 *                both forks return, synchronize returns 0 (the forker
 *                parks before any library lock, fork_lock included)
 *   forkcancel   two threads fork concurrently, one with cancellation
 *                enabled, one with it disabled: each keeps its own state
 *                (the fork handlers save it per thread)
 *   cancelnear   a thread cancelled inside cmodx_block_alloc_near (which
 *                reads /proc/self/maps under the heap lock) leaves the
 *                heap usable: the next cmodx_block_alloc returns 0
 *   wrap         an address+length pair that wraps the address space is
 *                refused (EINVAL) by cmodx_slot_publish and
 *                cmodx_batch_add, also for code outside any heap
 *   reinit S     cmodx_slot_init of an initialised slot (same or another
 *                domain) is refused (EINVAL) and leaves the slot working;
 *                refused inits leak nothing (trampoline ids); after
 *                cmodx_slot_fini the address may be initialised again; a
 *                domain with an initialised slot or an open batch is not
 *                destroyed (EBUSY) and stays usable
 *   targeted     a block a slot targets is never freed under it:
 *                cmodx_block_free refuses (EBUSY); with two domains on one
 *                heap, cmodx_retire and CMODX_RETIRE_OLD of one domain
 *                leave a block the other's slot targets live; a heap
 *                whose code a slot targets is not destroyed (EBUSY)
 *   index        the process's index of targeted blocks (one lookup per
 *                free or retirement) is exact: a block of one heap that a
 *                slot of a domain on another heap targets (at its start
 *                or inside) is not freed, retired or left by
 *                CMODX_RETIRE_OLD; a slot that a batch switches twice
 *                counts only its last target; cmodx_slot_fini and a
 *                publish away release a block at once
 *   outparams    out-parameters are defined (NULL) on failure:
 *                cmodx_thread_register, cmodx_batch_commit's old targets,
 *                cmodx_heap_contains's block start
 *
 * A hang is the failure these modes look for: a watchdog (alarm) turns
 * it into an exit with a message.  Its bound is generous (a deadlock is
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

/* ---- twofork ------------------------------------------------------------------- */

static cmodx_domain *tf_dom;
static int tf_registered, tf_fork_ok[2];

static void *tf_forker(void *arg)
{
    int i = (int)(intptr_t)arg;
    cmodx_thread *self = NULL;
    REQUIRE(cmodx_thread_register(tf_dom, &self) == 0);
    __atomic_add_fetch(&tf_registered, 1, __ATOMIC_SEQ_CST);
    /* Online and not quiescent: the main thread's grace period waits for
     * this thread.  The first forker is meant to be inside fork (holding
     * fork_lock, waiting for the writer lock) when the second forks. */
    usleep(100000u * (unsigned)(i + 1));
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    tf_fork_ok[i] = (p > 0 && child_status(p) == 0);
    cmodx_quiescent(self);
    CHECK_EQ(cmodx_thread_unregister(tf_dom), 0);
    return NULL;
}

static void test_twofork(enum cmodx_strategy s)
{
    test_watchdog("two online forkers against cmodx_synchronize(d, 0)", 240);
    cmodx_heap *h = NULL;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    struct cmodx_domain_config c = {.strategy = s, .heap = h};
    int err = cmodx_domain_create(&c, &tf_dom);
    if (err == ENOSYS || err == EPERM || err == EOPNOTSUPP) {
        printf("twofork %s: strategy unavailable here (%d), skipped\n", cmodx_strategy_name(s),
               err);
        cmodx_heap_destroy(h);
        return;
    }
    REQUIRE(err == 0);
    for (int round = 0; round < 3; round++) {
        tf_registered = 0;
        pthread_t a, b;
        REQUIRE(pthread_create(&a, NULL, tf_forker, (void *)(intptr_t)0) == 0);
        REQUIRE(pthread_create(&b, NULL, tf_forker, (void *)(intptr_t)1) == 0);
        while (__atomic_load_n(&tf_registered, __ATOMIC_SEQ_CST) < 2)
            usleep(1000);
        CHECK_EQ(cmodx_synchronize(tf_dom, 0), 0);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        CHECK(tf_fork_ok[0]);
        CHECK(tf_fork_ok[1]);
    }
    CHECK_EQ(cmodx_domain_destroy(tf_dom), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
    alarm(0);
}

/* ---- forkcancel ------------------------------------------------------------------ */

static int fc_bad[2];

static void *fc_forker(void *arg)
{
    int i = (int)(intptr_t)arg;
    int want = i ? PTHREAD_CANCEL_ENABLE : PTHREAD_CANCEL_DISABLE, old;
    pthread_setcancelstate(want, NULL);
    for (int n = 0; n < 300; n++) {
        pid_t p = fork();
        if (p == 0) {
            pthread_setcancelstate(want, &old);
            _exit(old == want ? 0 : 3);
        }
        if (!(p > 0 && child_status(p) == 0))
            fc_bad[i]++;
        pthread_setcancelstate(want, &old);
        if (old != want)
            fc_bad[i]++;
    }
    return NULL;
}

static void test_forkcancel(void)
{
    test_watchdog("concurrent forks", 240);
    cmodx_heap *h = NULL;
    cmodx_domain *d = NULL;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    struct cmodx_domain_config c = {.heap = h};
    REQUIRE(cmodx_domain_create(&c, &d) == 0); /* every stage's fork steps */
    cmodx_block b;
    REQUIRE(cmodx_block_alloc(h, 64, &b) == 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&t[i], NULL, fc_forker, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(fc_bad[0], 0);
    CHECK_EQ(fc_bad[1], 0);
    CHECK_EQ(cmodx_block_free(h, b.exec), 0);
    CHECK_EQ(cmodx_domain_destroy(d), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
    alarm(0);
}

/* ---- cancelnear ------------------------------------------------------------------ */

static void *cn_allocer(void *arg)
{
    cmodx_heap *h = arg;
    /* Not on the stack: a cancelled thread's frames are unwound without
     * ASan unpoisoning the redzones of its addressed locals (a false
     * stack-buffer-underflow when the thread's stack is torn down). */
    static __thread cmodx_block b;
    /* Every block fills a chunk: each call looks for a gap near this program's text,
     * through the locked section that reads /proc/self/maps. */
    while (cmodx_block_alloc_near(h, 512u << 10, (cmodx_xptr){(void *)(uintptr_t)cn_allocer},
                                  1u << 30, &b) == 0) {
        /* The library disables cancellation inside its locked sections;
         * the request acts here, at the caller's cancellation point. */
        pthread_testcancel();
    }
    return NULL;
}

static void test_cancelnear(void)
{
    test_watchdog("cmodx_block_alloc after a thread was cancelled in cmodx_block_alloc_near", 240);
    unsigned seed = 12345;
    for (int round = 0; round < 40; round++) {
        struct cmodx_heap_config c = {.chunk_bytes = 512u << 10};
        cmodx_heap *h = NULL;
        REQUIRE(cmodx_heap_create(&c, &h) == 0);
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, cn_allocer, h) == 0);
        seed = seed * 1103515245u + 12345u;
        usleep(200 + (seed >> 16) % 3000);
        pthread_cancel(t);
        pthread_join(t, NULL);
        cmodx_block b;
        CHECK_EQ(cmodx_block_alloc(h, 64, &b), 0); /* hangs if the lock was left held */
        CHECK_EQ(cmodx_heap_destroy(h), 0);
    }
    alarm(0);
}

/* ---- wrap ------------------------------------------------------------------------ */

static uint32_t wrap_fn(void) { return 7; }

static void test_wrap(void)
{
    cmodx_heap *h = NULL;
    cmodx_domain *d = NULL;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    struct cmodx_domain_config c = {.heap = h};
    REQUIRE(cmodx_domain_create(&c, &d) == 0);
    cmodx_block b;
    REQUIRE(cmodx_block_alloc(h, 64, &b) == 0);
    cmodx_slot s;
    REQUIRE(cmodx_slot_init(d, &s, b.exec) == 0);
    cmodx_xptr stat = {(void *)(uintptr_t)wrap_fn};
    CHECK_EQ(cmodx_slot_publish(&s, stat, SIZE_MAX, 0, NULL), EINVAL);
    CHECK_EQ(cmodx_slot_publish(&s, stat, SIZE_MAX - (uintptr_t)stat.ptr + 1, 0, NULL), EINVAL);
    CHECK_EQ(cmodx_slot_publish(&s, b.exec, SIZE_MAX, 0, NULL), EINVAL);
    /* A length that does not wrap is accepted for static code. */
    CHECK_EQ(cmodx_slot_publish(&s, stat, 16, 0, NULL), 0);
    cmodx_batch *bt = NULL;
    if (cmodx_batch_begin(d, &bt) == 0) {
        CHECK_EQ(cmodx_batch_add(bt, &s, stat, SIZE_MAX, 0), EINVAL);
        cmodx_batch_abort(bt);
    }
    cmodx_slot_fini(&s);
    CHECK_EQ(cmodx_block_free(h, b.exec), 0);
    CHECK_EQ(cmodx_domain_destroy(d), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

/* ---- reinit ---------------------------------------------------------------------- */

static uint32_t reinit_a(void) { return 1; }
static uint32_t reinit_b(void) { return 2; }

static void test_reinit(enum cmodx_strategy st)
{
    cmodx_heap *h = NULL;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    struct cmodx_domain_config c = {.strategy = st, .heap = h, .max_trampoline_slots = 64};
    cmodx_domain *d = NULL, *d2 = NULL;
    int err = cmodx_domain_create(&c, &d);
    if (err == ENOSYS || err == EPERM || err == EOPNOTSUPP) {
        printf("reinit %s: strategy unavailable here (%d), skipped\n", cmodx_strategy_name(st),
               err);
        cmodx_heap_destroy(h);
        return;
    }
    REQUIRE(err == 0);
    REQUIRE(cmodx_domain_create(&c, &d2) == 0);
    cmodx_xptr a = {(void *)(uintptr_t)reinit_a}, b = {(void *)(uintptr_t)reinit_b};
    cmodx_slot s, t;
    REQUIRE(cmodx_slot_init(d, &s, a) == 0);
    /* More refused re-inits than the domain has trampoline ids. */
    for (int i = 0; i < 200; i++) {
        CHECK_EQ(cmodx_slot_init(d, &s, b), EINVAL);
        CHECK_EQ(cmodx_slot_init(d2, &s, b), EINVAL);
        CHECK_EQ(cmodx_slot_init(NULL, &s, b), EINVAL);
    }
    /* The slot still works: a publish into it is accepted and reports
     * its first target (the refusals did not touch it). */
    cmodx_xptr old = {NULL};
    CHECK_EQ(cmodx_slot_publish(&s, b, 16, 0, &old), 0);
    CHECK(old.ptr == a.ptr);
    /* Nothing leaked: a fresh slot can still be made. */
    CHECK_EQ(cmodx_slot_init(d, &t, a), 0);
    cmodx_slot_fini(&t);
    cmodx_slot_fini(&s);
    CHECK_EQ(cmodx_slot_init(d2, &s, a), 0); /* finished: free again */
    /* Not destroyed while S is initialised (a later publish or fini of S
     * would use the freed domain): refused, S still works. */
    CHECK_EQ(cmodx_domain_destroy(d2), EBUSY);
    CHECK(strstr(cmodx_last_error(), "1 slot(s)") != NULL);
    CHECK_EQ(cmodx_slot_publish(&s, b, 16, 0, NULL), 0);
    CHECK_EQ(cmodx_slot_init(d, &s, a), EINVAL); /* still live in D2 */
    cmodx_slot_fini(&s);
    CHECK_EQ(cmodx_domain_destroy(d2), 0);
    CHECK_EQ(cmodx_slot_init(d, &s, a), 0);
    cmodx_slot_fini(&s);
    /* Not destroyed while a batch of it is open. */
    cmodx_batch *bt = NULL;
    REQUIRE(cmodx_batch_begin(d, &bt) == 0);
    CHECK_EQ(cmodx_domain_destroy(d), EBUSY);
    cmodx_batch_abort(bt);
    CHECK_EQ(cmodx_domain_destroy(d), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

/* ---- targeted --------------------------------------------------------------------- */

static void test_targeted(void)
{
    cmodx_heap *h = NULL;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    struct cmodx_domain_config c = {.heap = h};
    cmodx_domain *d1 = NULL, *d2 = NULL;
    REQUIRE(cmodx_domain_create(&c, &d1) == 0);
    REQUIRE(cmodx_domain_create(&c, &d2) == 0);
    cmodx_block stub, f1, f2;
    REQUIRE(cmodx_block_alloc(h, 64, &stub) == 0);
    REQUIRE(cmodx_block_alloc(h, 64, &f1) == 0);
    REQUIRE(cmodx_block_alloc(h, 64, &f2) == 0);
    cmodx_slot a, b;
    REQUIRE(cmodx_slot_init(d1, &a, stub.exec) == 0);
    REQUIRE(cmodx_slot_init(d2, &b, stub.exec) == 0);
    /* A targeted block is not freed by its owner by mistake. */
    CHECK_EQ(cmodx_block_free(h, stub.exec), EBUSY);
    CHECK_EQ(cmodx_heap_contains(h, stub.exec, NULL), 1);
    /* D2 leaves the shared stub with CMODX_RETIRE_OLD: D1's slot still
     * targets it, so it stays live after D2's grace period. */
    CHECK_EQ(cmodx_slot_publish(&b, f2.exec, 16, CMODX_RETIRE_OLD, NULL), 0);
    CHECK_EQ(cmodx_synchronize(d2, 0), 0);
    CHECK_EQ(cmodx_heap_contains(h, stub.exec, NULL), 1);
    /* An explicit retire by D2 (none of whose slots target it) is refused. */
    CHECK_EQ(cmodx_retire(d2, stub.exec), EBUSY);
    CHECK_EQ(cmodx_synchronize(d2, 0), 0);
    CHECK_EQ(cmodx_heap_contains(h, stub.exec, NULL), 1);
    /* Once no slot targets it, the owner may free it. */
    CHECK_EQ(cmodx_slot_publish(&a, f1.exec, 16, 0, NULL), 0);
    CHECK_EQ(cmodx_block_free(h, stub.exec), 0);
    /* A heap that no domain uses is not destroyed while a slot of a
     * domain on another heap targets its code. */
    cmodx_heap *h2 = NULL;
    cmodx_block g;
    REQUIRE(cmodx_heap_create(NULL, &h2) == 0);
    REQUIRE(cmodx_block_alloc(h2, 64, &g) == 0);
    CHECK_EQ(cmodx_slot_publish(&a, g.exec, 16, 0, NULL), 0);
    CHECK_EQ(cmodx_heap_destroy(h2), EBUSY);
    CHECK_EQ(cmodx_slot_publish(&a, f1.exec, 16, 0, NULL), 0);
    CHECK_EQ(cmodx_heap_destroy(h2), 0);
    cmodx_slot_fini(&a);
    cmodx_slot_fini(&b);
    CHECK_EQ(cmodx_domain_destroy(d1), 0);
    CHECK_EQ(cmodx_domain_destroy(d2), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

/* ---- index ------------------------------------------------------------------------ */

static void test_index(void)
{
    /* D1 alone on H1 (its own counts see no other domain), D2 on H2. */
    cmodx_heap *h1 = NULL, *h2 = NULL;
    REQUIRE(cmodx_heap_create(NULL, &h1) == 0);
    REQUIRE(cmodx_heap_create(NULL, &h2) == 0);
    struct cmodx_domain_config c1 = {.heap = h1}, c2 = {.heap = h2};
    cmodx_domain *d1 = NULL, *d2 = NULL;
    REQUIRE(cmodx_domain_create(&c1, &d1) == 0);
    REQUIRE(cmodx_domain_create(&c2, &d2) == 0);
    cmodx_block x, y, z, w;
    REQUIRE(cmodx_block_alloc(h1, 64, &x) == 0);
    REQUIRE(cmodx_block_alloc(h1, 64, &y) == 0);
    REQUIRE(cmodx_block_alloc(h1, 64, &z) == 0);
    REQUIRE(cmodx_block_alloc(h2, 64, &w) == 0);
    cmodx_xptr inside = {(const char *)x.exec.ptr + 16};
    cmodx_slot a, b;
    REQUIRE(cmodx_slot_init(d1, &a, x.exec) == 0);
    /* D2's slot targets an entry point inside X, a block of H1. */
    REQUIRE(cmodx_slot_init(d2, &b, inside) == 0);
    /* D1 leaves X with CMODX_RETIRE_OLD: D2's slot keeps it live. */
    CHECK_EQ(cmodx_slot_publish(&a, y.exec, 16, CMODX_RETIRE_OLD, NULL), 0);
    CHECK_EQ(cmodx_synchronize(d1, 0), 0);
    CHECK_EQ(cmodx_heap_contains(h1, x.exec, NULL), 1);
    CHECK_EQ(cmodx_retire(d1, x.exec), EBUSY);
    CHECK_EQ(cmodx_synchronize(d1, 0), 0);
    CHECK_EQ(cmodx_heap_contains(h1, x.exec, NULL), 1);
    CHECK_EQ(cmodx_block_free(h1, x.exec), EBUSY);
    /* Asked of the wrong heap, the block is no block of it: EINVAL. */
    CHECK_EQ(cmodx_block_free(h2, x.exec), EINVAL);
    /* The same slot switched twice in one batch counts its last target
     * only: Y (its first) is released, Z is targeted. */
    cmodx_batch *bt = NULL;
    REQUIRE(cmodx_batch_begin(d2, &bt) == 0);
    REQUIRE(cmodx_batch_add(bt, &b, y.exec, 16, 0) == 0);
    REQUIRE(cmodx_batch_add(bt, &b, z.exec, 16, 0) == 0);
    CHECK_EQ(cmodx_batch_commit(bt, NULL), 0);
    /* A's publish targets Y; B left X: X is free to go, Z is not. */
    CHECK_EQ(cmodx_block_free(h1, z.exec), EBUSY);
    CHECK_EQ(cmodx_block_free(h1, x.exec), 0);
    /* A publish away releases at once: B to W (its own heap). */
    CHECK_EQ(cmodx_slot_publish(&b, w.exec, 16, 0, NULL), 0);
    CHECK_EQ(cmodx_block_free(h1, z.exec), 0);
    CHECK_EQ(cmodx_block_free(h2, w.exec), EBUSY);
    /* cmodx_slot_fini releases at once. */
    cmodx_slot_fini(&b);
    CHECK_EQ(cmodx_block_free(h2, w.exec), 0);
    CHECK_EQ(cmodx_block_free(h1, y.exec), EBUSY);
    cmodx_slot_fini(&a);
    CHECK_EQ(cmodx_block_free(h1, y.exec), 0);
    CHECK_EQ(cmodx_domain_destroy(d1), 0);
    CHECK_EQ(cmodx_domain_destroy(d2), 0);
    CHECK_EQ(cmodx_heap_destroy(h1), 0);
    CHECK_EQ(cmodx_heap_destroy(h2), 0);
}

/* ---- outparams -------------------------------------------------------------------- */

static void test_outparams(void)
{
    cmodx_thread *self = (cmodx_thread *)&self; /* not NULL: must be overwritten */
    CHECK_EQ(cmodx_thread_register(NULL, &self), EINVAL);
    CHECK(self == NULL);

    cmodx_heap *h = NULL;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    cmodx_block b;
    REQUIRE(cmodx_block_alloc(h, 64, &b) == 0);
    cmodx_xptr start = {(void *)&start};
    CHECK_EQ(cmodx_heap_contains(h, (cmodx_xptr){(void *)&start}, &start), 0);
    CHECK(start.ptr == NULL);
    start.ptr = (void *)&start;
    CHECK_EQ(cmodx_heap_contains(NULL, b.exec, &start), 0);
    CHECK(start.ptr == NULL);
    CHECK_EQ(cmodx_heap_contains(h, b.exec, &start), 1);
    CHECK(start.ptr == b.exec.ptr);

    /* A commit that fails (a block freed after it was added) leaves every
     * old target NULL. */
    struct cmodx_domain_config c = {.heap = h};
    cmodx_domain *d = NULL;
    REQUIRE(cmodx_domain_create(&c, &d) == 0);
    cmodx_block nb;
    REQUIRE(cmodx_block_alloc(h, 64, &nb) == 0);
    cmodx_slot s;
    REQUIRE(cmodx_slot_init(d, &s, b.exec) == 0);
    cmodx_batch *bt = NULL;
    REQUIRE(cmodx_batch_begin(d, &bt) == 0);
    REQUIRE(cmodx_batch_add(bt, &s, nb.exec, 16, 0) == 0);
    REQUIRE(cmodx_block_free(h, nb.exec) == 0);
    cmodx_xptr olds[1] = {{(void *)&olds}};
    CHECK_EQ(cmodx_batch_commit(bt, olds), EINVAL);
    CHECK(olds[0].ptr == NULL);
    cmodx_slot_fini(&s);
    CHECK_EQ(cmodx_domain_destroy(d), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "twofork")) {
        int s = cmodx_strategy_parse(argc > 2 ? argv[2] : "epoch");
        REQUIRE(s >= 0);
        test_twofork((enum cmodx_strategy)s);
    } else if (!strcmp(mode, "forkcancel")) {
        test_forkcancel();
    } else if (!strcmp(mode, "reinit")) {
        int st = cmodx_strategy_parse(argc > 2 ? argv[2] : "epoch");
        REQUIRE(st >= 0);
        test_reinit((enum cmodx_strategy)st);
    } else if (!strcmp(mode, "targeted")) {
        test_targeted();
    } else if (!strcmp(mode, "index")) {
        test_index();
    } else if (!strcmp(mode, "outparams")) {
        test_outparams();
    } else if (!strcmp(mode, "wrap")) {
        test_wrap();
    } else if (!strcmp(mode, "cancelnear")) {
        test_cancelnear();
    } else {
        REQUIRE(!"mode: twofork STRATEGY, forkcancel, cancelnear");
    }
    return check_finish("test_rel");
}
