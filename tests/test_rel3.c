/*
 * tests/test_rel3.c - issue 12, the review of its delivery: what a child
 * forked inside a library call may do to the parent's code, free hooks
 * that wait, and grace periods of two domains sharing a heap.
 *
 *   forkwrite [tmp]  a signal handler forks while its thread is inside
 *                cmodx_synchronize; the child's cmodx_block_write,
 *                cmodx_make_visible and cmodx_batch_add return
 *                ENOTRECOVERABLE, and a raw write through the block's write
 *                view faults (SIGSEGV: its write views were made
 *                PROT_NONE; the child catches it and exits 77); the parent's block is intact and returns
 *                its value.  "tmp": the heap's backing file is a temporary
 *                file (memfd made to fail), found by device and inode
 *   forkhook     the same from a child forked by a free hook
 *   hooktimeout  cmodx_synchronize(d, 100) while another thread's free hook
 *                sleeps for 3 s returns ETIMEDOUT (not 0 after 3 s)
 *   hookcross    the free hooks of two domains each synchronize the other
 *                domain: both calls return (no deadlock), the inner ones
 *                with EDEADLK (the second to look may find the other hook
 *                already returned: 0)
 *   liveuaf      cmodx_slot_init of an initialised slot (EINVAL, "in this
 *                domain") while another thread's inits grow the live-slot
 *                table and churn rebuilds it (the old message read the
 *                entry after the unlock; a narrow race, by inspection)
 *   xdom         a block targeted by slots of domains A and B: B's slot
 *                switches away, B synchronizes, then A retires it: a
 *                reader of B that loaded the old target before the switch
 *                still runs it correctly (the documented rule)
 *
 * A hang is the failure several modes look for: a watchdog (alarm) turns
 * it into an exit with a message.
 */
#define _GNU_SOURCE
#include <cmodx/cmodx.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"

/* ---- forkwrite, forkhook --------------------------------------------------- */

static struct {
    cmodx_heap *h;
    cmodx_domain *d;
    cmodx_block x;
    int release, in_sync;
} fw;

static void fw_segv(int sig)
{
    (void)sig;
    _exit(77);
}

/* In the unusable child: 2 if a library call did not refuse; otherwise
 * the raw write, which must kill it with SIGSEGV (exit 3 if it did not). */
static void fw_child(void)
{
    alarm(20);
    unsigned char cc[2] = {0xcc, 0xcc};
    if (cmodx_block_write(&fw.x, 0, cc, 2) != ENOTRECOVERABLE ||
        cmodx_make_visible(fw.x.exec, 2) != ENOTRECOVERABLE ||
        cmodx_batch_add((cmodx_batch *)&fw, NULL, fw.x.exec, 16, 0) != ENOTRECOVERABLE)
        _exit(2);
    /* The fault is caught here (sanitizers install their own SIGSEGV
     * handlers, which would report and exit 1): exit 77 = it faulted. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fw_segv;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    *(volatile unsigned char *)fw.x.write.ptr = 0xcc;
    _exit(3);
}

static void *fw_online(void *arg)
{
    (void)arg;
    cmodx_thread *self = NULL;
    REQUIRE(cmodx_thread_register(fw.d, &self) == 0);
    while (!__atomic_load_n(&fw.release, __ATOMIC_ACQUIRE))
        usleep(1000);
    cmodx_quiescent(self);
    CHECK_EQ(cmodx_thread_unregister(fw.d), 0);
    return NULL;
}

static void *fw_syncer(void *arg)
{
    (void)arg;
    __atomic_store_n(&fw.in_sync, 1, __ATOMIC_RELEASE);
    CHECK_EQ(cmodx_synchronize(fw.d, 0), 0);
    return NULL;
}

/* The child's raw write faulted: its handler exited 77, or (ThreadSanitizer
 * defers a handler it intercepted, and the write faults again) SIGSEGV
 * ended it. */
static int faulted(int status)
{
    return status == 77 || status == 128 + SIGSEGV;
}

static void check_intact(const cmodx_block *b, uint32_t v)
{
    unsigned char want[64];
    size_t n = cmodx_emit_return_u32((cmodx_wptr){want}, sizeof want, v);
    CHECK(n > 0 && memcmp(b->exec.ptr, want, n) == 0);
    uint32_t got = 0;
    CHECK_EQ(call_catching(as_fn(b->exec), &got), 1);
    CHECK_EQ(got, v);
}

static void test_forkwrite(int tmp)
{
    test_watchdog("forkwrite", 120);
    memset(&fw, 0, sizeof fw);
    handler_fork_install(SIGUSR1, fw_child);
    struct cmodx_heap_config hc = {.flags = tmp ? CMODX_HEAP_ALLOW_TMPFILE : 0};
    if (tmp)
        cmodx_debug_set_faults(CMODX_FAULT_MEMFD);
    int err = cmodx_heap_create(&hc, &fw.h);
    cmodx_debug_set_faults(0);
    if (tmp && err) {
        printf("forkwrite tmp: no temporary file here (%d: %s), skipped\n", err,
               cmodx_last_error());
        return;
    }
    REQUIRE(err == 0);
    struct cmodx_domain_config c = {.strategy = CMODX_SYNC_EPOCH, .heap = fw.h};
    REQUIRE(cmodx_domain_create(&c, &fw.d) == 0);
    fw.x = block_returning(fw.h, 3);
    pthread_t on, sy;
    REQUIRE(pthread_create(&on, NULL, fw_online, NULL) == 0);
    usleep(100000);
    REQUIRE(pthread_create(&sy, NULL, fw_syncer, NULL) == 0);
    while (!__atomic_load_n(&fw.in_sync, __ATOMIC_ACQUIRE))
        usleep(1000);
    usleep(100000); /* inside cmodx_synchronize: it waits for the online thread */
    CHECK(faulted(handler_fork_in(sy, SIGUSR1)));
    check_intact(&fw.x, 3);
    __atomic_store_n(&fw.release, 1, __ATOMIC_RELEASE);
    pthread_join(sy, NULL);
    pthread_join(on, NULL);
    /* The parent's write views still work (a fresh block of the same
     * chunk: under qemu-user, code rewritten in place through the other
     * view is not retranslated, so X itself is not rewritten). */
    cmodx_block n = block_returning(fw.h, 5);
    check_intact(&n, 5);
    CHECK_EQ(cmodx_block_free(fw.h, n.exec), 0);
    CHECK_EQ(cmodx_block_free(fw.h, fw.x.exec), 0);
    CHECK_EQ(cmodx_domain_destroy(fw.d), 0);
    CHECK_EQ(cmodx_heap_destroy(fw.h), 0);
}

static int hook_child_status = -1;

static void fork_hook(void *arg, cmodx_xptr b)
{
    (void)arg;
    (void)b;
    pid_t p = fork();
    if (p == 0)
        fw_child();
    if (p > 0)
        hook_child_status = child_status(p);
}

static void test_forkhook(void)
{
    test_watchdog("forkhook", 120);
    memset(&fw, 0, sizeof fw);
    REQUIRE(cmodx_heap_create(NULL, &fw.h) == 0);
    struct cmodx_domain_config c = {.strategy = CMODX_SYNC_MEMBARRIER, .heap = fw.h};
    if (cmodx_domain_create(&c, &fw.d) != 0) {
        c.strategy = CMODX_SYNC_EPOCH;
        REQUIRE(cmodx_domain_create(&c, &fw.d) == 0);
    }
    fw.x = block_returning(fw.h, 3);
    cmodx_block y = block_returning(fw.h, 4);
    cmodx_debug_set_free_hook(fw.d, fork_hook, NULL);
    CHECK_EQ(cmodx_retire(fw.d, y.exec), 0);
    CHECK_EQ(synchronize_retrying(fw.d, 0), 0);
    CHECK(faulted(hook_child_status));
    check_intact(&fw.x, 3);
    cmodx_debug_set_free_hook(fw.d, NULL, NULL);
    CHECK_EQ(cmodx_block_free(fw.h, fw.x.exec), 0);
    CHECK_EQ(cmodx_domain_destroy(fw.d), 0);
    CHECK_EQ(cmodx_heap_destroy(fw.h), 0);
}

/* ---- hooktimeout, hookcross -------------------------------------------------- */

static struct {
    cmodx_heap *h;
    cmodx_domain *a, *b;
    int started, release;
    pthread_barrier_t both;
    int inner_a, inner_b, outer_a, outer_b;
} hk;

static cmodx_domain *plain_domain(cmodx_heap *h)
{
    struct cmodx_domain_config c = {.strategy = CMODX_SYNC_EPOCH, .heap = h};
    cmodx_domain *d = NULL;
    REQUIRE(cmodx_domain_create(&c, &d) == 0);
    return d;
}

static void held_hook(void *arg, cmodx_xptr b)
{
    (void)arg;
    (void)b;
    __atomic_store_n(&hk.started, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&hk.release, __ATOMIC_ACQUIRE))
        usleep(1000);
}

/* Retire the block at ARG into A (its hook may run in the retire: a
 * period with no online thread completes at once), then synchronize. */
static void *sync_a(void *arg)
{
    CHECK_EQ(cmodx_retire(hk.a, *(cmodx_xptr *)arg), 0);
    __atomic_store_n(&hk.outer_a, synchronize_retrying(hk.a, 0), __ATOMIC_RELEASE);
    return NULL;
}

static void test_hooktimeout(void)
{
    test_watchdog("cmodx_synchronize(d, 100) while another thread's free hook runs", 120);
    memset(&hk, 0, sizeof hk);
    REQUIRE(cmodx_heap_create(NULL, &hk.h) == 0);
    hk.a = plain_domain(hk.h);
    cmodx_block y = block_returning(hk.h, 4);
    cmodx_debug_set_free_hook(hk.a, held_hook, NULL);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, sync_a, &y.exec) == 0);
    while (!__atomic_load_n(&hk.started, __ATOMIC_ACQUIRE))
        usleep(1000);
    /* The hook is held until released below: the promise (every block
     * retired before the call back in the heap) cannot be kept within
     * the timeout, so ETIMEDOUT; the old library waited for the hook. */
    CHECK_EQ(cmodx_synchronize(hk.a, 100), ETIMEDOUT);
    CHECK(strstr(cmodx_last_error(), "free hooks") != NULL);
    CHECK_EQ(__atomic_load_n(&hk.release, __ATOMIC_ACQUIRE), 0); /* it returned while held */
    __atomic_store_n(&hk.release, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    CHECK_EQ(hk.outer_a, 0);
    CHECK_EQ(cmodx_synchronize(hk.a, 100), 0); /* no hook left: within the timeout */
    cmodx_debug_set_free_hook(hk.a, NULL, NULL);
    CHECK_EQ(cmodx_domain_destroy(hk.a), 0);
    CHECK_EQ(cmodx_heap_destroy(hk.h), 0);
}

static void cross_hook(void *arg, cmodx_xptr b)
{
    (void)b;
    int which = arg != NULL; /* NULL: a hook of A; else of B */
    pthread_barrier_wait(&hk.both);
    int e = cmodx_synchronize(which ? hk.a : hk.b, 0);
    __atomic_store_n(which ? &hk.inner_b : &hk.inner_a, e, __ATOMIC_RELEASE);
}

static void *sync_b(void *arg)
{
    CHECK_EQ(cmodx_retire(hk.b, *(cmodx_xptr *)arg), 0);
    __atomic_store_n(&hk.outer_b, synchronize_retrying(hk.b, 0), __ATOMIC_RELEASE);
    return NULL;
}

static void test_hookcross(void)
{
    test_watchdog("free hooks of two domains synchronizing each other's domain", 120);
    memset(&hk, 0, sizeof hk);
    REQUIRE(pthread_barrier_init(&hk.both, NULL, 2) == 0);
    REQUIRE(cmodx_heap_create(NULL, &hk.h) == 0);
    hk.a = plain_domain(hk.h);
    hk.b = plain_domain(hk.h);
    cmodx_block x = block_returning(hk.h, 1), y = block_returning(hk.h, 2);
    cmodx_debug_set_free_hook(hk.a, cross_hook, NULL);
    cmodx_debug_set_free_hook(hk.b, cross_hook, &hk);
    hk.inner_a = hk.inner_b = -1;
    pthread_t ta, tb;
    REQUIRE(pthread_create(&ta, NULL, sync_a, &x.exec) == 0);
    REQUIRE(pthread_create(&tb, NULL, sync_b, &y.exec) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    /* The first of the two inner calls to look finds the other thread
     * still in its hook of the domain it synchronized: refused, not
     * waited for (EDEADLK).  The second may find that hook already
     * returned (0). */
    CHECK(hk.inner_a == EDEADLK || hk.inner_a == 0);
    CHECK(hk.inner_b == EDEADLK || hk.inner_b == 0);
    CHECK(hk.inner_a == EDEADLK || hk.inner_b == EDEADLK);
    CHECK_EQ(hk.outer_a, 0);
    CHECK_EQ(hk.outer_b, 0);
    cmodx_debug_set_free_hook(hk.a, NULL, NULL);
    cmodx_debug_set_free_hook(hk.b, NULL, NULL);
    CHECK_EQ(cmodx_domain_destroy(hk.a), 0);
    CHECK_EQ(cmodx_domain_destroy(hk.b), 0);
    CHECK_EQ(cmodx_heap_destroy(hk.h), 0);
    pthread_barrier_destroy(&hk.both);
}

/* ---- liveuaf ------------------------------------------------------------------ */

/* cmodx_slot_init of an initialised slot (EINVAL) while another thread's
 * inits grow and rebuild the table of live slots: the message is built
 * from what was copied under the table's lock (it read the entry after
 * the unlock, a use-after-free when a rebuild fell in between; the window
 * is a few instructions wide, so this run is a stress test under ASan
 * and TSan, not a certain reproduction). */
static struct {
    cmodx_domain *d;
    cmodx_slot dup;
    int stop;
    long tries, wrong;
} lu;

static uint32_t lu_fn(void)
{
    return 1;
}

static cmodx_xptr lu_code(void)
{
    cmodx_xptr x;
    uint32_t (*f)(void) = lu_fn;
    memcpy(&x.ptr, &f, sizeof x.ptr);
    return x;
}

static void *lu_dup(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&lu.stop, __ATOMIC_ACQUIRE)) {
        int e = cmodx_slot_init(lu.d, &lu.dup, lu_code());
        __atomic_add_fetch(&lu.tries, 1, __ATOMIC_RELEASE);
        if (e != EINVAL || !strstr(cmodx_last_error(), "(in this domain)"))
            lu.wrong++;
    }
    return NULL;
}

static void test_liveuaf(void)
{
    test_watchdog("liveuaf", 240);
    memset(&lu, 0, sizeof lu);
    struct cmodx_domain_config c = {.strategy = CMODX_SYNC_EPOCH};
    REQUIRE(cmodx_domain_create(&c, &lu.d) == 0);
    REQUIRE(cmodx_slot_init(lu.d, &lu.dup, lu_code()) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, lu_dup, NULL) == 0);
    /* The duplicate initialiser runs before the churn begins (waited for,
     * not assumed: a loaded machine may start it late). */
    while (__atomic_load_n(&lu.tries, __ATOMIC_ACQUIRE) == 0)
        sched_yield();
    enum { N = 20000 };
    cmodx_slot *s = calloc(N, sizeof *s);
    REQUIRE(s != NULL);
    /* Growth (the table reallocated as it fills), then churn: one slot
     * initialised and finished at a time leaves tombs, and the table is
     * rebuilt (a new allocation, the old one freed) every few dozen. */
    for (int i = 0; i < N; i++)
        CHECK_EQ(cmodx_slot_init(lu.d, &s[i], lu_code()), 0);
    for (int i = 0; i < N; i++)
        cmodx_slot_fini(&s[i]);
    for (int i = 0; i < 10 * N; i++) {
        CHECK_EQ(cmodx_slot_init(lu.d, &s[0], lu_code()), 0);
        cmodx_slot_fini(&s[0]);
    }
    __atomic_store_n(&lu.stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    CHECK(lu.tries > 0);
    CHECK_EQ(lu.wrong, 0);
    free(s);
    cmodx_slot_fini(&lu.dup);
    CHECK_EQ(cmodx_domain_destroy(lu.d), 0);
}

/* ---- xdom --------------------------------------------------------------------- */

static struct {
    cmodx_domain *a, *b;
    cmodx_slot b1;
    int loaded, switched;
    uint32_t got;
    int returned;
} xd;

/* A reader of B: loads X from B's slot, holds it across the switch (no
 * quiescent state in between), then calls it. */
static void *xd_reader(void *arg)
{
    (void)arg;
    cmodx_thread *self = NULL;
    REQUIRE(cmodx_thread_register(xd.b, &self) == 0);
    const void *t = cmodx_slot_target(&xd.b1, self);
    __atomic_store_n(&xd.loaded, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&xd.switched, __ATOMIC_ACQUIRE))
        usleep(1000);
    usleep(50000); /* the main thread is now in cmodx_synchronize(B): it waits for us */
    xd.returned = call_catching(as_fn((cmodx_xptr){t}), &xd.got);
    cmodx_quiescent(self);
    CHECK_EQ(cmodx_thread_unregister(xd.b), 0);
    return NULL;
}

static void test_xdom(void)
{
    test_watchdog("xdom", 120);
    memset(&xd, 0, sizeof xd);
    cmodx_heap *h, *h2;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    REQUIRE(cmodx_heap_create(NULL, &h2) == 0);
    xd.a = plain_domain(h);
    xd.b = plain_domain(h2);
    cmodx_block x = block_returning(h, 5), y = block_returning(h, 6), z = block_returning(h2, 7);
    cmodx_slot a1;
    REQUIRE(cmodx_slot_init(xd.a, &a1, x.exec) == 0);
    REQUIRE(cmodx_slot_init(xd.b, &xd.b1, x.exec) == 0);
    pthread_t r;
    REQUIRE(pthread_create(&r, NULL, xd_reader, NULL) == 0);
    while (!__atomic_load_n(&xd.loaded, __ATOMIC_ACQUIRE))
        usleep(1000);
    /* B's slot leaves X without the flag: X stays A's to retire. */
    cmodx_xptr old = {NULL};
    CHECK_EQ(publish_retrying(&xd.b1, z.exec, z.size, 0, &old), 0);
    CHECK(old.ptr == x.exec.ptr);
    __atomic_store_n(&xd.switched, 1, __ATOMIC_RELEASE);
    /* The rule: B's grace period after its slot left X, before A retires
     * it.  It waits for the reader, which runs X meanwhile. */
    CHECK_EQ(synchronize_retrying(xd.b, 0), 0);
    CHECK_EQ(publish_retrying(&a1, y.exec, y.size, CMODX_RETIRE_OLD, NULL), 0);
    CHECK_EQ(synchronize_retrying(xd.a, 0), 0);
    pthread_join(r, NULL);
    CHECK_EQ(xd.returned, 1);
    CHECK_EQ(xd.got, 5);
    /* X was retired by A and is free now: the heap no longer holds it. */
    cmodx_xptr st = {NULL};
    CHECK_EQ(cmodx_heap_contains(h, x.exec, &st), 0);
    cmodx_slot_fini(&a1);
    cmodx_slot_fini(&xd.b1);
    CHECK_EQ(cmodx_domain_destroy(xd.a), 0);
    CHECK_EQ(cmodx_domain_destroy(xd.b), 0);
    CHECK_EQ(cmodx_block_free(h, y.exec), 0);
    CHECK_EQ(cmodx_block_free(h2, z.exec), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
    CHECK_EQ(cmodx_heap_destroy(h2), 0);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "forkwrite";
    const char *arg = argc > 2 ? argv[2] : "";
    if (!strcmp(mode, "forkwrite"))
        test_forkwrite(!strcmp(arg, "tmp"));
    else if (!strcmp(mode, "forkhook"))
        test_forkhook();
    else if (!strcmp(mode, "hooktimeout"))
        test_hooktimeout();
    else if (!strcmp(mode, "hookcross"))
        test_hookcross();
    else if (!strcmp(mode, "liveuaf"))
        test_liveuaf();
    else if (!strcmp(mode, "xdom"))
        test_xdom();
    else {
        fprintf(stderr, "test_rel3: unknown mode %s\n", mode);
        return 2;
    }
    return check_finish("test_rel3");
}
