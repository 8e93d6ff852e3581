/* test_patch: single-instruction patches and function-entry redirection
 * while other threads run the code (include/cmodx/patch.h).
 *
 *   test_patch [STRATEGY [FLIPS]]   membarrier (default), signal, mprotect
 *
 * On AArch64 and x86-64: 4 threads call a heap function whose first
 * instruction a writer flips between a NOP and a jump thousands of times;
 * the same through function entries redirected back and forth between
 * versions; redirect, restore, redirect again; a batch of 100; the W^X
 * check of /proc/self/maps while patching; every error.  On ARMv7 and
 * RISC-V 64 every patch must be refused with the documented error. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>

#include "check.h"
#include "cmodx/patch.h"
#include "patch_funcs.h"
#include "testutil.h"

#define THREADS 4
static int flips = 2000; /* per test; fewer with the signal strategy (see main) */

static cmodx_heap *heap;
static cmodx_domain *dom;
static int supported; /* in-place patching on this architecture */
static volatile int stop;
static int bad_results, wx_seen;

typedef int (*int_fn)(int);

static cmodx_xptr xp(const void *p)
{
    cmodx_xptr x = {p};
    return x;
}

static cmodx_xptr fn_x(int_fn f)
{
    const void *p;
    memcpy(&p, &f, sizeof p);
    return xp(p);
}

/* ---- callers ---------------------------------------------------------------------- */

struct caller {
    pthread_t th;
    int mode; /* 0: the heap function (1 or 2); 1: pf_0 (1, 1001, 2001) */
    ret_fn heapfn;
    long calls;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(dom, &self) == 0);
    int_fn volatile pf = pf_table[0];
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        if (c->mode == 0) {
            uint32_t v = c->heapfn();
            if (v != 1 && v != 2)
                __atomic_fetch_add(&bad_results, 1, __ATOMIC_RELAXED);
        } else {
            int v = pf(1);
            if (v != 1 && v != 1001 && v != 2001)
                __atomic_fetch_add(&bad_results, 1, __ATOMIC_RELAXED);
        }
        __atomic_store_n(&c->calls, c->calls + 1, __ATOMIC_RELEASE);
        cmodx_quiescent(self);
    }
    cmodx_thread_unregister(dom);
    return NULL;
}

static void *wx_main(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        int n = count_wx_mappings();
        if (n != 0)
            __atomic_store_n(&wx_seen, 1, __ATOMIC_RELAXED);
        usleep(2000);
    }
    return NULL;
}

static void start(struct caller *c, int mode, ret_fn f, pthread_t *wx)
{
    stop = 0;
    for (int i = 0; i < THREADS; i++) {
        c[i].mode = mode;
        c[i].heapfn = f;
        c[i].calls = 0;
        pthread_create(&c[i].th, NULL, caller_main, &c[i]);
    }
    pthread_create(wx, NULL, wx_main, NULL);
    /* The writer starts once every caller is calling (not a timing
     * assumption: it waits for it). */
    for (int i = 0; i < THREADS; i++)
        while (__atomic_load_n(&c[i].calls, __ATOMIC_ACQUIRE) == 0)
            usleep(1000);
}

static void finish(struct caller *c, pthread_t wx)
{
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(c[i].th, NULL);
        CHECK(c[i].calls > 0);
    }
    pthread_join(wx, NULL);
    CHECK_EQ(bad_results, 0);
    CHECK_EQ(wx_seen, 0);
}

/* ---- single instructions in a heap block ----------------------------------------- */

/* [0] NOP or jump to [32]; [isz] return 1; [32] return 2. */
static cmodx_block flip_block(uint8_t *nop, uint8_t *jump)
{
    size_t isz = cmodx_patch_insn_size();
    cmodx_block b;
    REQUIRE(cmodx_block_alloc(heap, 64, &b) == 0);
    REQUIRE(cmodx_patch_encode_nop(nop) == 0);
    REQUIRE(cmodx_patch_encode_jump(b.exec, xp((const char *)b.exec.ptr + 32), 0, jump) == 0);
    memcpy(b.write.ptr, nop, isz);
    REQUIRE(write_return(&b, isz, 1) == 0);
    REQUIRE(write_return(&b, 32, 2) == 0);
    return b;
}

static void test_insn_flips(void)
{
    uint8_t nop[CMODX_INSN_MAX], jump[CMODX_INSN_MAX];
    cmodx_block b = flip_block(nop, jump);
    CHECK_EQ(as_fn(b.exec)(), 1);
    struct caller c[THREADS];
    pthread_t wx;
    start(c, 0, as_fn(b.exec), &wx);
    for (int i = 0; i < flips; i++)
        CHECK_EQ(cmodx_patch_insn(dom, b.exec, (i & 1) ? nop : jump), 0);
    finish(c, wx);
    CHECK_EQ(as_fn(b.exec)(), 1); /* flips is even: the NOP is back */
    CHECK_EQ(cmodx_patch_insn(dom, b.exec, jump), 0);
    CHECK_EQ(as_fn(b.exec)(), 2);
}

/* A batch of 100: one call, all patched, and (AArch64) one cross-thread
 * synchronisation for all of them; the breakpoint protocol needs three. */
static void test_insn_batch(void)
{
    enum { N = 100 };
    struct cmodx_insn_patch p[N];
    cmodx_block b[N];
    uint8_t nop[CMODX_INSN_MAX], jump[CMODX_INSN_MAX];
    for (int i = 0; i < N; i++) {
        b[i] = flip_block(nop, jump);
        p[i].at = b[i].exec;
        memcpy(p[i].insn, jump, sizeof jump);
        REQUIRE(cmodx_patch_encode_jump(b[i].exec, xp((const char *)b[i].exec.ptr + 32), 0,
                                        p[i].insn) == 0);
    }
    struct cmodx_reclaim_stats before, after;
    cmodx_reclaim_get_stats(dom, &before);
    CHECK_EQ(cmodx_patch_insns(dom, p, N), 0);
    cmodx_reclaim_get_stats(dom, &after);
    CHECK_EQ(after.syncs - before.syncs, cmodx_patch_insn_size() == 4 ? 1 : 3);
    for (int i = 0; i < N; i++)
        CHECK_EQ(as_fn(b[i].exec)(), 2);
}

static void test_insn_errors(void)
{
    uint8_t nop[CMODX_INSN_MAX], jump[CMODX_INSN_MAX], other[CMODX_INSN_MAX];
    cmodx_block b = flip_block(nop, jump);
    size_t isz = cmodx_patch_insn_size();
    /* A new instruction outside the set ("return 1"'s first instruction). */
    memcpy(other, (const char *)b.exec.ptr + isz, isz);
    CHECK_EQ(cmodx_patch_insn(dom, b.exec, other), EINVAL);
    CHECK(strstr(cmodx_last_error(), "new") != NULL);
    /* An old instruction outside the set. */
    CHECK_EQ(cmodx_patch_insn(dom, xp((const char *)b.exec.ptr + isz), nop), EINVAL);
    CHECK(strstr(cmodx_last_error(), "old") != NULL);
    CHECK_EQ(as_fn(b.exec)(), 1); /* nothing written */
    /* A batch with one bad entry writes nothing. */
    struct cmodx_insn_patch p[2] = {{b.exec, {0}}, {xp((const char *)b.exec.ptr + isz), {0}}};
    memcpy(p[0].insn, jump, isz);
    memcpy(p[1].insn, nop, isz);
    CHECK_EQ(cmodx_patch_insns(dom, p, 2), EINVAL);
    CHECK_EQ(as_fn(b.exec)(), 1);
    /* Misaligned (AArch64), not code (the stack), NULL. */
    if (isz == 4)
        CHECK_EQ(cmodx_patch_insn(dom, xp((const char *)b.exec.ptr + 2), nop), EINVAL);
    int on_stack = 0;
    CHECK_EQ(cmodx_patch_insn(dom, xp(&on_stack), nop), EINVAL);
    CHECK(strstr(cmodx_last_error(), "only private read-execute") != NULL);
    CHECK_EQ(cmodx_patch_insn(NULL, b.exec, nop), EINVAL);
    CHECK_EQ(cmodx_patch_insn(dom, b.exec, NULL), EINVAL);
    /* Out of a jump's reach. */
    if (sizeof(void *) == 8) {
        uintptr_t far = (uintptr_t)b.exec.ptr + ((uintptr_t)1 << (sizeof(uintptr_t) * 8 - 20));
        CHECK_EQ(cmodx_patch_encode_jump(b.exec, xp((const void *)far), 0, jump), ERANGE);
    }
    /* A lazy strategy cannot patch. */
    cmodx_domain *lazy;
    struct cmodx_domain_config cfg = {.strategy = CMODX_SYNC_EPOCH, .heap = heap};
    REQUIRE(cmodx_domain_create(&cfg, &lazy) == 0);
    CHECK_EQ(cmodx_patch_insn(lazy, b.exec, jump), ENOTSUP);
    CHECK_EQ(cmodx_entry_redirect(lazy, fn_x(pf_table[5]), fn_x(version_one)), ENOTSUP);
    cmodx_domain_destroy(lazy);
}

/* ---- the program's own text ---------------------------------------------------------- */

static int maps_line_has(const void *addr, const char *what)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof line, f)) {
        uintmax_t s, e;
        if (sscanf(line, "%jx-%jx", &s, &e) == 2 && (uintptr_t)addr >= s && (uintptr_t)addr < e)
            found = strstr(line, what) != NULL;
    }
    if (f)
        fclose(f);
    return found;
}

/* ---- function entries ---------------------------------------------------------------- */

static int entries_ok; /* test_entries ran (entries patchable here) */

static void test_entries(void)
{
    int_fn volatile pf0 = pf_table[0];
    CHECK_EQ(pf0(1), 1);
    int err = cmodx_entry_redirect(dom, fn_x(pf_table[0]), fn_x(version_one));
    if (err == ENOTSUP && cmodx_patch_insn_size() == 5) {
        /* gcc on x86-64: five one-byte NOPs, refused with the reason. */
        CHECK(strstr(cmodx_last_error(), "one-byte NOPs") != NULL);
        printf("test_patch: function entries built by this compiler are not patchable here "
               "(%s)\n", cmodx_last_error());
        return;
    }
    CHECK_EQ(err, 0);
    entries_ok = err == 0;
    CHECK_EQ(pf0(1), 1001);
    CHECK(maps_line_has((const void *)pf_table[0], "cmodx-text"));
    CHECK(maps_line_has((const void *)pf_table[0], "r-xs"));

    /* Back and forth while 4 threads call it. */
    struct caller c[THREADS];
    pthread_t wx;
    start(c, 1, NULL, &wx);
    for (int i = 0; i < flips; i++) {
        if (i % 500 == 250) {
            CHECK_EQ(cmodx_entry_restore(dom, fn_x(pf_table[0])), 0);
        } else {
            CHECK_EQ(cmodx_entry_redirect(dom, fn_x(pf_table[0]),
                                          fn_x((i & 1) ? version_one : version_two)),
                     0);
        }
    }
    finish(c, wx);

    /* Redirect, restore, redirect again; restoring twice is no error. */
    CHECK_EQ(cmodx_entry_redirect(dom, fn_x(pf_table[0]), fn_x(version_two)), 0);
    CHECK_EQ(pf0(1), 2001);
    CHECK_EQ(cmodx_entry_restore(dom, fn_x(pf_table[0])), 0);
    CHECK_EQ(pf0(1), 1);
    CHECK_EQ(cmodx_entry_restore(dom, fn_x(pf_table[0])), 0);
    CHECK_EQ(cmodx_entry_redirect(dom, fn_x(pf_table[0]), fn_x(version_one)), 0);
    CHECK_EQ(pf0(1), 1001);

    /* To a slot: the entry follows the slot's publishes. */
    cmodx_slot slot;
    REQUIRE(cmodx_slot_init(dom, &slot, fn_x(version_two)) == 0);
    CHECK_EQ(cmodx_entry_redirect_slot(dom, fn_x(pf_table[0]), &slot), 0);
    CHECK_EQ(pf0(1), 2001);
    CHECK_EQ(cmodx_slot_publish(&slot, fn_x(version_one), 4, 0, NULL), 0);
    CHECK_EQ(pf0(1), 1001);
    CHECK_EQ(cmodx_entry_redirect(dom, fn_x(pf_table[0]), fn_x(version_two)), 0);
    CHECK_EQ(pf0(1), 2001);

    /* A batch of 100 (pf_0 included, already redirected): one call. */
    struct cmodx_entry_change ch[PF_COUNT];
    for (int i = 0; i < PF_COUNT; i++) {
        ch[i].function = fn_x(pf_table[i]);
        ch[i].target = fn_x((i & 1) ? version_one : version_two);
        ch[i].slot = NULL;
    }
    struct cmodx_reclaim_stats before, after;
    CHECK_EQ(cmodx_entry_redirect_batch(dom, ch, PF_COUNT), 0);
    for (int i = 0; i < PF_COUNT; i++) {
        int_fn volatile f = pf_table[i];
        CHECK_EQ(f(3), (i & 1) ? 1003 : 2003);
    }
    /* Again, restored first: now no text page has to move, and the batch
     * costs one synchronisation for the slots plus the patch protocol's
     * (1 on AArch64, 3 for the breakpoint protocol). */
    for (int i = 0; i < PF_COUNT; i++)
        CHECK_EQ(cmodx_entry_restore(dom, fn_x(pf_table[i])), 0);
    for (int i = 0; i < PF_COUNT; i++)
        ch[i].target = fn_x((i & 1) ? version_one : version_two);
    cmodx_reclaim_get_stats(dom, &before);
    CHECK_EQ(cmodx_entry_redirect_batch(dom, ch, PF_COUNT), 0);
    cmodx_reclaim_get_stats(dom, &after);
    CHECK_EQ(after.syncs - before.syncs, cmodx_patch_insn_size() == 4 ? 2 : 4);
    for (int i = 0; i < PF_COUNT; i++) {
        int_fn volatile f = pf_table[i];
        CHECK_EQ(f(3), (i & 1) ? 1003 : 2003);
    }
    struct cmodx_entry_info info[PF_COUNT + 1];
    CHECK_EQ(cmodx_entry_list(dom, info, PF_COUNT + 1), PF_COUNT);
    int redirected = 0;
    for (int i = 0; i < PF_COUNT; i++)
        redirected += info[i].redirected;
    CHECK_EQ(redirected, PF_COUNT);
    CHECK(info[0].function.ptr == fn_x(pf_table[0]).ptr);
    for (int i = 0; i < PF_COUNT; i++)
        CHECK_EQ(cmodx_entry_restore(dom, fn_x(pf_table[i])), 0);
    for (int i = 0; i < PF_COUNT; i++) {
        int_fn volatile f = pf_table[i];
        CHECK_EQ(f(3), 3 + i);
    }

    /* fork(): the child patches its own copy of the text, never the
     * parent's (the moved pages are shared memory). */
    CHECK_EQ(cmodx_entry_redirect(dom, fn_x(pf_table[0]), fn_x(version_one)), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int ok = cmodx_entry_redirect(dom, fn_x(pf_table[0]), fn_x(version_two)) == 0 &&
                 pf0(1) == 2001 && cmodx_entry_restore(dom, fn_x(pf_table[0])) == 0 &&
                 pf0(1) == 1;
        _exit(ok ? 0 : 1);
    }
    int status = -1;
    REQUIRE(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(pf0(1), 1001); /* the parent's text is untouched */
    CHECK_EQ(cmodx_entry_restore(dom, fn_x(pf_table[0])), 0);

    /* Errors. */
    CHECK_EQ(cmodx_entry_redirect(dom, fn_x(version_one), fn_x(version_two)), EINVAL);
    CHECK(strstr(cmodx_last_error(), "not a patch point") != NULL);
    CHECK_EQ(cmodx_entry_restore(dom, fn_x(version_one)), EINVAL);
    CHECK_EQ(cmodx_entry_redirect(dom, fn_x(pf_table[1]), xp(NULL)), EINVAL);
    CHECK_EQ(cmodx_entry_redirect(NULL, fn_x(pf_table[1]), fn_x(version_one)), EINVAL);
    /* Redirected by someone else: a single-instruction patch put a jump
     * into a patch point cmodx_entry never saw. */
    uint8_t jump[CMODX_INSN_MAX], nop[CMODX_INSN_MAX];
    cmodx_xptr at = fn_x(pf_table[99]);
    if (*(const uint32_t *)at.ptr == 0xd503245fu) /* BTI C first */
        at = xp((const char *)at.ptr + 4);
    REQUIRE(cmodx_patch_encode_jump(at, fn_x(version_one), 0, jump) == 0);
    REQUIRE(cmodx_patch_encode_nop(nop) == 0);
    int_fn volatile f99 = pf_table[99];
    CHECK_EQ(cmodx_patch_insn(dom, at, jump), 0);
    CHECK_EQ(f99(1), 1001);
    CHECK_EQ(cmodx_patch_insn(dom, at, nop), 0);
    CHECK_EQ(f99(1), 100);
    /* pf_99's record exists now (the batch): the text changed under it. */
    CHECK_EQ(cmodx_patch_insn(dom, at, jump), 0);
    CHECK_EQ(cmodx_entry_redirect(dom, fn_x(pf_table[99]), fn_x(version_two)), EBUSY);
    CHECK_EQ(cmodx_patch_insn(dom, at, nop), 0);
    /* The test's own slot (the redirection to a slot above) is finished:
     * a domain with an initialised slot of the caller's is not destroyed
     * (EBUSY, "slot(s) still initialised"), whatever its entries. */
    cmodx_slot_fini(&slot);
    /* A domain that did not redirect it cannot restore or redirect it;
     * a domain with a redirected entry cannot be destroyed; once its
     * entries are restored it can, and another domain adopts them. */
    cmodx_domain *other;
    struct cmodx_domain_config cfg = {.strategy = CMODX_SYNC_MEMBARRIER, .heap = heap};
    if (cmodx_domain_create(&cfg, &other) == 0) {
        CHECK_EQ(cmodx_entry_restore(other, fn_x(pf_table[0])), EINVAL);
        CHECK_EQ(cmodx_entry_redirect(other, fn_x(pf_table[0]), fn_x(version_one)), EBUSY);
        CHECK_EQ(cmodx_entry_redirect(dom, fn_x(pf_table[0]), fn_x(version_one)), 0);
        CHECK_EQ(cmodx_domain_destroy(dom), EBUSY);
        CHECK(strstr(cmodx_last_error(), "still redirected") != NULL);
        CHECK_EQ(cmodx_entry_restore(dom, fn_x(pf_table[0])), 0);
        CHECK_EQ(cmodx_entry_redirect(other, fn_x(pf_table[0]), fn_x(version_two)), EBUSY);
        cmodx_domain_destroy(other);
    }
}

/* ---- lookup and near allocation -------------------------------------------------------- */

static void test_heap_helpers(void)
{
    cmodx_block b, found;
    cmodx_wptr w;
    REQUIRE(cmodx_block_alloc(heap, 200, &b) == 0);
    CHECK_EQ(cmodx_heap_lookup(heap, xp((const char *)b.exec.ptr + 130), &found, &w), 0);
    CHECK(found.exec.ptr == b.exec.ptr && found.write.ptr == b.write.ptr);
    CHECK_EQ(found.size, b.size);
    CHECK(w.ptr == (char *)b.write.ptr + 130);
    CHECK_EQ(cmodx_block_free(heap, b.exec), 0);
    CHECK_EQ(cmodx_heap_lookup(heap, xp((const char *)b.exec.ptr + 130), NULL, NULL), EINVAL);
    int on_stack;
    CHECK_EQ(cmodx_heap_lookup(heap, xp(&on_stack), NULL, NULL), EINVAL);

    /* Near the program's text, within 128 MiB. */
    size_t dist = (size_t)128 << 20;
    cmodx_xptr near = fn_x(version_one);
    CHECK_EQ(cmodx_block_alloc_near(heap, 64, near, dist, &b), 0);
    uintptr_t a = (uintptr_t)b.exec.ptr, n = (uintptr_t)near.ptr;
    CHECK((a > n ? a - n : n - a) + 64 <= dist);
    REQUIRE(write_return(&b, 0, 77) == 0);
    CHECK_EQ(as_fn(b.exec)(), 77);
    CHECK_EQ(cmodx_block_free(heap, b.exec), 0);
    /* Nothing fits within 4 KiB of the stack: ENOMEM, with the distance. */
    CHECK_EQ(cmodx_block_alloc_near(heap, 64, xp(&on_stack), 4096, &b), ENOMEM);
    CHECK(strstr(cmodx_last_error(), "within 4096 bytes") != NULL);
    CHECK_EQ(cmodx_block_alloc_near(heap, 0, near, dist, &b), EINVAL);
    /* A full heap: ENOMEM. */
    cmodx_heap *small;
    struct cmodx_heap_config hc = {.chunk_bytes = 65536, .limit_bytes = 65536};
    REQUIRE(cmodx_heap_create(&hc, &small) == 0);
    CHECK_EQ(cmodx_block_alloc_near(small, 65536, near, dist, &b), 0);
    CHECK_EQ(cmodx_block_alloc_near(small, 64, near, dist, &b), ENOMEM);
    cmodx_heap_destroy(small);
}

/* ---- SIGTRAP chaining (x86-64) --------------------------------------------------------- */

static volatile sig_atomic_t program_traps;
/* Returns: the trap it handles is an INT3 followed by a RET (x86-64), so
 * execution resumes after the INT3 and returns to the caller.  No
 * siglongjmp out of the chained handler: ThreadSanitizer would take the
 * rest of the test for signal-handler context. */
static void program_handler(int sig)
{
    (void)sig;
    program_traps++;
}

static void test_unsupported(void)
{
    uint8_t buf[CMODX_INSN_MAX] = {0};
    cmodx_block b;
    REQUIRE(cmodx_block_alloc(heap, 64, &b) == 0);
    REQUIRE(write_return(&b, 0, 5) == 0);
    CHECK_EQ(cmodx_patch_insn(dom, b.exec, buf), EINVAL);
    CHECK(strstr(cmodx_last_error(), "no in-place patching") != NULL);
    CHECK_EQ(cmodx_patch_encode_nop(buf), ENOTSUP);
    CHECK_EQ(cmodx_patch_encode_jump(b.exec, b.exec, 0, buf), ENOTSUP);
    CHECK_EQ(cmodx_entry_redirect(dom, fn_x(pf_table[0]), fn_x(version_one)), ENOTSUP);
    CHECK(strstr(cmodx_last_error(), "call through a slot") != NULL);
    CHECK_EQ(as_fn(b.exec)(), 5);
}

int main(int argc, char **argv)
{
    const char *strategy = argc > 1 ? argv[1] : "membarrier";
    REQUIRE(cmodx_heap_create(NULL, &heap) == 0);
    /* Acknowledgements may take long on a loaded machine or under an
     * emulator: a test asserts correctness, not speed. */
    struct cmodx_domain_config cfg = {.heap = heap, .signal_timeout_ms = 120000};
    cfg.strategy = (enum cmodx_strategy)cmodx_strategy_parse(strategy);
    REQUIRE((int)cfg.strategy > 0);
    /* Each signal round waits until every caller is scheduled: with more
     * callers than cores that is a scheduling quantum, not a fast path. */
    if (cfg.strategy == CMODX_SYNC_SIGNAL)
        flips = 200;
    if (argc > 2)
        flips = atoi(argv[2]) & ~1; /* even: each flip test ends where it began */
    /* A SIGTRAP handler of the program's, installed before any patch: the
     * library's must chain to it. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = program_handler;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGTRAP, &sa, NULL);
    int err = cmodx_domain_create(&cfg, &dom);
    if (err == ENOSYS || err == ENOTSUP) {
        printf("test_patch: strategy %s unavailable here: %s\n", strategy, cmodx_last_error());
        return 77; /* skipped (ctest SKIP_RETURN_CODE), not passed */
    }
    REQUIRE(err == 0);
    uint8_t probe[CMODX_INSN_MAX];
    supported = cmodx_patch_encode_nop(probe) == 0;
    test_heap_helpers();
    if (!supported) {
        test_unsupported();
        CHECK(cmodx_domain_destroy(dom) == 0);
        return check_finish("test_patch");
    }
    test_insn_flips();
    test_insn_batch();
    test_insn_errors();
    test_entries();
    CHECK_EQ(count_wx_mappings(), 0);
    /* Destroying the domain releases its (restored) entries: a new domain
     * adopts them. */
    if (entries_ok) {
        CHECK(cmodx_domain_destroy(dom) == 0);
        struct cmodx_domain_config cfg2 = {.strategy = cfg.strategy, .heap = heap,
                                           .signal_timeout_ms = 120000};
        REQUIRE(cmodx_domain_create(&cfg2, &dom) == 0);
        int_fn volatile pf0 = pf_table[0];
        CHECK_EQ(cmodx_entry_redirect(dom, fn_x(pf_table[0]), fn_x(version_two)), 0);
        CHECK_EQ(pf0(1), 2001);
        CHECK_EQ(cmodx_entry_restore(dom, fn_x(pf_table[0])), 0);
        CHECK_EQ(pf0(1), 1);
    }
    /* After patches through the breakpoint protocol, a trap that is not a
     * patch site still reaches the program's handler. */
    cmodx_block t;
    REQUIRE(cmodx_block_alloc(heap, 64, &t) == 0);
    cmodx_emit_trap_fill(t.write, 64);
    if (cmodx_patch_insn_size() == 5)
        ((volatile uint8_t *)t.write.ptr)[1] = 0xc3; /* INT3; RET */
    REQUIRE(cmodx_make_visible(t.exec, 64) == 0);
    if (cmodx_patch_insn_size() == 5)
        as_fn(t.exec)();
    if (cmodx_patch_insn_size() == 5)
        CHECK_EQ(program_traps, 1);
    CHECK(cmodx_domain_destroy(dom) == 0);
    return check_finish("test_patch");
}
