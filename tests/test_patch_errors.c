/* test_patch_errors: what a refused patch or redirection must leave alone
 * (include/cmodx/patch.h, "ERRORS"), with functions built in the heap so
 * that every compiler's build exercises entry patch points (gcc's x86-64
 * entries, five 1-byte NOPs, are refused by design).
 *
 *   test_patch_errors [STRATEGY]   membarrier (default), signal, mprotect
 *
 * Each case asserts the documented error and that nothing moved: an
 * unmapped function, a refused instruction in libc (its page must not be
 * moved onto the memfd), the vDSO, a redirection to itself or to its own
 * trampoline, a foreign branch after a landing pad, and a single-
 * instruction patch over a redirected entry.  In child processes (each
 * its own SIGTRAP disposition before cmodx's first patch): the program's
 * prior SIGTRAP handling honoured (SIG_IGN drops kill/raise; SA_RESETHAND,
 * sa_mask, SA_NODEFER), and a trap at the address of a destroyed heap's
 * patched site. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "cmodx/debug.h"
#include "cmodx/patch.h"
#include "testutil.h"

static cmodx_heap *heap;
static cmodx_domain *dom;

static cmodx_xptr xp(const void *p)
{
    cmodx_xptr x = {p};
    return x;
}

/* Is ADDR's mapping line in /proc/self/maps one that names WHAT? */
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

/* A heap function: [landing pad] NOP "return V", a patch point as
 * -fpatchable-function-entry=1 (aarch64) / =5 (x86-64, clang's 5-byte NOP)
 * emits it.  PAD: prefix a landing pad (ENDBR64 / BTI C).  HEAD: when not
 * NULL, the bytes that replace the NOP (a foreign branch). */
static cmodx_xptr make_entry(uint32_t v, int pad, const uint8_t *head, cmodx_block *out)
{
    size_t isz = cmodx_patch_insn_size(), off = 0;
    cmodx_block b;
    REQUIRE(cmodx_block_alloc(heap, 64, &b) == 0);
    uint8_t *w = b.write.ptr;
    if (pad) {
        static const uint8_t endbr64[4] = {0xf3, 0x0f, 0x1e, 0xfa};
        static const uint8_t bti_c[4] = {0x5f, 0x24, 0x03, 0xd5};
        memcpy(w, isz == 5 ? endbr64 : bti_c, 4);
        off = 4;
    }
    if (head)
        memcpy(w + off, head, isz);
    else
        REQUIRE(cmodx_patch_encode_nop(w + off) == 0);
    REQUIRE(write_return(&b, off + isz, v) == 0);
    REQUIRE(cmodx_make_visible(b.exec, 64) == 0);
    if (out)
        *out = b;
    return b.exec;
}

static void test_unmapped(void)
{
    /* In page 0, below vm.mmap_min_addr (at least a page): never mapped. */
    const void *p = (const void *)(uintptr_t)256;
    cmodx_xptr target = make_entry(2, 0, NULL, NULL);
    /* Used to fault reading the entry before the mapping was checked. */
    CHECK_EQ(cmodx_entry_redirect(dom, xp(p), target), EINVAL);
    CHECK(strstr(cmodx_last_error(), "not mapped") != NULL);
    uint8_t nop[CMODX_INSN_MAX];
    REQUIRE(cmodx_patch_encode_nop(nop) == 0);
    CHECK_EQ(cmodx_patch_insn(dom, xp(p), nop), EINVAL);
    CHECK(strstr(cmodx_last_error(), "not mapped") != NULL);
}

static void test_refused_moves_nothing(void)
{
    /* libc's getpid: mapped r-xp, but its first instruction is not in the
     * replaceable set.  Refused, and its page must stay libc's file. */
    pid_t (*volatile gp)(void) = getpid;
    const char *at;
    memcpy(&at, (const void *)&gp, sizeof at); /* a function's address as data */
    size_t isz = cmodx_patch_insn_size();
    uint8_t nop[CMODX_INSN_MAX];
    REQUIRE(cmodx_patch_encode_nop(nop) == 0);
    /* Past any leading NOP (AArch64 glibc's getpid starts with one): the
     * system call number's move, outside every replaceable set. */
    for (int i = 0; i < 4 && memcmp(at, nop, isz) == 0; i++)
        at += isz;
    if ((uintptr_t)at % isz != 0 && isz == 4)
        return;
    CHECK(maps_line_has(at, "cmodx-text") == 0);
    CHECK_EQ(cmodx_patch_insn(dom, xp(at), nop), EINVAL);
    CHECK(strstr(cmodx_last_error(), "refused") != NULL);
    CHECK(maps_line_has(at, "cmodx-text") == 0);
    /* The same for a redirection of it (not a patch point). */
    cmodx_xptr target = make_entry(2, 0, NULL, NULL);
    CHECK_EQ(cmodx_entry_redirect(dom, xp(at), target), EINVAL);
    CHECK(maps_line_has(at, "cmodx-text") == 0);
}

static void test_special_mappings(void)
{
    const void *vdso = (const void *)getauxval(AT_SYSINFO_EHDR);
    if (!vdso)
        return;
    uint8_t nop[CMODX_INSN_MAX];
    REQUIRE(cmodx_patch_encode_nop(nop) == 0);
    CHECK_EQ(cmodx_patch_insn(dom, xp(vdso), nop), EINVAL);
    CHECK(strstr(cmodx_last_error(), "special mapping [vdso]") != NULL);
    CHECK_EQ(cmodx_entry_redirect(dom, xp(vdso), make_entry(2, 0, NULL, NULL)), EINVAL);
    CHECK(strstr(cmodx_last_error(), "special mapping [vdso]") != NULL);
    CHECK(maps_line_has(vdso, "[vdso]") == 1);
}

static void test_cycles_and_claims(void)
{
    size_t isz = cmodx_patch_insn_size();
    cmodx_xptr f = make_entry(1, 0, NULL, NULL), v2 = make_entry(2, 0, NULL, NULL);
    /* To itself: its entry, its patch point. */
    CHECK_EQ(cmodx_entry_redirect(dom, f, f), EINVAL);
    CHECK(strstr(cmodx_last_error(), "itself") != NULL);
    CHECK_EQ(as_fn(f)(), 1);
    CHECK_EQ(cmodx_entry_redirect(dom, f, v2), 0);
    CHECK_EQ(as_fn(f)(), 2);
    CHECK_EQ(cmodx_entry_redirect(dom, f, f), EINVAL);
    CHECK(strstr(cmodx_last_error(), "own entry") != NULL);
    /* To its own trampoline (and any other one). */
    struct cmodx_entry_info info[4];
    REQUIRE(cmodx_entry_list(dom, info, 4) >= 1);
    CHECK_EQ(cmodx_entry_redirect(dom, f, info[0].trampoline), EINVAL);
    CHECK(strstr(cmodx_last_error(), "trampoline") != NULL);
    cmodx_xptr g = make_entry(3, 0, NULL, NULL);
    CHECK_EQ(cmodx_entry_redirect(dom, g, info[0].trampoline), EINVAL);
    CHECK_EQ(as_fn(f)(), 2);
    CHECK_EQ(as_fn(g)(), 3);
    /* A single-instruction patch over the redirected patch point: refused
     * (it would wedge the domain's record); the domain can still restore. */
    uint8_t nop[CMODX_INSN_MAX];
    REQUIRE(cmodx_patch_encode_nop(nop) == 0);
    CHECK_EQ(cmodx_patch_insn(dom, f, nop), EBUSY);
    CHECK(strstr(cmodx_last_error(), "patch point") != NULL);
    CHECK_EQ(as_fn(f)(), 2);
    CHECK_EQ(cmodx_entry_restore(dom, f), 0);
    CHECK_EQ(as_fn(f)(), 1);
    CHECK_EQ(cmodx_entry_redirect(dom, f, v2), 0);
    CHECK_EQ(as_fn(f)(), 2);
    CHECK_EQ(cmodx_entry_restore(dom, f), 0);
    (void)isz;
}

static void test_foreign_after_pad(void)
{
    /* A branch somebody else wrote where the NOP should be, after a
     * landing pad: EBUSY "redirected by someone else", as without one. */
    cmodx_block b;
    cmodx_xptr target = make_entry(2, 0, NULL, NULL);
    for (int pad = 0; pad <= 1; pad++) {
        uint8_t jump[CMODX_INSN_MAX];
        cmodx_xptr f = make_entry(1, pad, NULL, &b);
        const char *site = (const char *)f.ptr + (pad ? 4 : 0);
        REQUIRE(cmodx_patch_encode_jump(xp(site), target, 0, jump) == 0);
        /* Written as someone else would: the patch point becomes the jump. */
        REQUIRE(cmodx_patch_insn(dom, xp(site), jump) == 0);
        CHECK_EQ(as_fn(f)(), 2);
        CHECK_EQ(cmodx_entry_redirect(dom, f, make_entry(3, 0, NULL, NULL)), EBUSY);
        CHECK(strstr(cmodx_last_error(), "someone else") != NULL);
    }
}


/* A batch whose text step fails (fault "patch-sync": the patch protocol's
 * synchronisations fail after their stores): nothing is redirected after
 * it, a function redirected before still goes where it went (its slot
 * switched back), and the new one's record is kept restored, reusable. */
static void test_batch_text_failure(void)
{
    cmodx_xptr f1 = make_entry(1, 0, NULL, NULL), f2 = make_entry(1, 0, NULL, NULL);
    cmodx_xptr a = make_entry(10, 0, NULL, NULL), b = make_entry(20, 0, NULL, NULL);
    CHECK_EQ(cmodx_entry_redirect(dom, f1, a), 0);
    CHECK_EQ(as_fn(f1)(), 10);
    unsigned faults = cmodx_debug_faults();
    cmodx_debug_set_faults(faults | CMODX_FAULT_PATCH_SYNC);
    struct cmodx_entry_change c[2] = {{f1, b, NULL}, {f2, b, NULL}};
    CHECK_EQ(cmodx_entry_redirect_batch(dom, c, 2), ENOMEM);
    CHECK(strstr(cmodx_last_error(), "switched back") != NULL);
    cmodx_debug_set_faults(faults);
    CHECK_EQ(as_fn(f1)(), 10); /* step 2 undone */
    CHECK_EQ(as_fn(f2)(), 1);  /* step 3 written back */
    struct cmodx_entry_info info[64];
    size_t n = cmodx_entry_list(dom, info, 64), seen = 0;
    for (size_t i = 0; i < n && i < 64; i++) {
        if (info[i].function.ptr == f1.ptr) {
            seen++;
            CHECK_EQ(info[i].redirected, 1);
            CHECK(info[i].target.ptr == a.ptr);
        }
        if (info[i].function.ptr == f2.ptr) {
            seen++;
            CHECK_EQ(info[i].redirected, 0);
        }
    }
    CHECK_EQ(seen, 2);
    /* The kept record is reused. */
    CHECK_EQ(cmodx_entry_redirect_batch(dom, c, 2), 0);
    CHECK_EQ(as_fn(f1)(), 20);
    CHECK_EQ(as_fn(f2)(), 20);
    CHECK_EQ(cmodx_entry_list(dom, NULL, 0), n);
    CHECK_EQ(cmodx_entry_restore(dom, f1), 0);
    CHECK_EQ(cmodx_entry_restore(dom, f2), 0);
    CHECK_EQ(as_fn(f1)(), 1);
    CHECK_EQ(as_fn(f2)(), 1);
}

/* ---- children: SIGTRAP handling before cmodx, destroyed heaps --------------------- */

static volatile sig_atomic_t traps, usr1_blocked, trap_blocked;

/* ThreadSanitizer defers asynchronous signals and runs the program's
 * handlers later from its own, under a mask of its choosing: the masks a
 * handler sees are the kernel's rules only without it. */
#if defined(__SANITIZE_THREAD__)
#define MASKS_CHECKED 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MASKS_CHECKED 0
#endif
#endif
#ifndef MASKS_CHECKED
#define MASKS_CHECKED 1
#endif

static void note_mask(void)
{
    sigset_t m;
    pthread_sigmask(SIG_SETMASK, NULL, &m);
    usr1_blocked = sigismember(&m, SIGUSR1) == 1;
    trap_blocked = sigismember(&m, SIGTRAP) == 1;
}

static void counting(int sig)
{
    (void)sig;
    traps++;
    note_mask();
}

/* In the child: a heap, a domain of STRATEGY, one patch of a heap NOP
 * (through the breakpoint protocol on x86-64: cmodx's SIGTRAP handler is
 * installed then).  The domain in *D, the patched function's block in *B. */
static void child_patch(const char *strategy, cmodx_heap **h, cmodx_domain **d, cmodx_block *b)
{
    REQUIRE(cmodx_heap_create(NULL, h) == 0);
    struct cmodx_domain_config cfg = {.heap = *h, .signal_timeout_ms = 120000};
    cfg.strategy = (enum cmodx_strategy)cmodx_strategy_parse(strategy);
    REQUIRE(cmodx_domain_create(&cfg, d) == 0);
    cmodx_heap *keep = heap;
    heap = *h;
    cmodx_xptr f = make_entry(1, 0, NULL, b), v2 = make_entry(2, 0, NULL, NULL);
    heap = keep;
    uint8_t jump[CMODX_INSN_MAX];
    REQUIRE(cmodx_patch_encode_jump(f, v2, 0, jump) == 0);
    REQUIRE(cmodx_patch_insn(*d, f, jump) == 0);
    REQUIRE(as_fn(f)() == 2);
}

/* Run BODY in a child; its wait status. */
static int in_child(void (*body)(const char *), const char *strategy)
{
    fflush(NULL);
    pid_t p = fork();
    REQUIRE(p >= 0);
    if (p == 0) {
        check_failures = 0; /* the child's own checks only */
        body(strategy);
        _exit(check_failures ? 1 : 0);
    }
    int st = 0;
    REQUIRE(waitpid(p, &st, 0) == p);
    return st;
}

static void child_ignored(const char *strategy)
{
    signal(SIGTRAP, SIG_IGN);
    cmodx_heap *h;
    cmodx_domain *d;
    cmodx_block b;
    child_patch(strategy, &h, &d, &b);
    /* Asynchronous SIGTRAPs: ignored, as before cmodx. */
    raise(SIGTRAP);
    kill(getpid(), SIGTRAP);
    union sigval sv = {0};
    sigqueue(getpid(), SIGTRAP, sv);
}

static void child_resethand(const char *strategy)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = counting;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);
    sigaction(SIGTRAP, &sa, NULL);
    cmodx_heap *h;
    cmodx_domain *d;
    cmodx_block b;
    child_patch(strategy, &h, &d, &b);
    raise(SIGTRAP);
    CHECK_EQ(traps, 1);
    if (MASKS_CHECKED) {
        CHECK_EQ(usr1_blocked, 1); /* its sa_mask */
        CHECK_EQ(trap_blocked, 1); /* no SA_NODEFER */
    }
    sigset_t m;
    pthread_sigmask(SIG_SETMASK, NULL, &m);
    CHECK_EQ(sigismember(&m, SIGUSR1), 0); /* restored after it */
    if (check_failures)
        _exit(1);
    fflush(NULL);
    raise(SIGTRAP); /* reset to the default: the process dies of it */
    _exit(3);
}

static void child_nodefer(const char *strategy)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = counting;
    sa.sa_flags = SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTRAP, &sa, NULL);
    cmodx_heap *h;
    cmodx_domain *d;
    cmodx_block b;
    child_patch(strategy, &h, &d, &b);
    raise(SIGTRAP);
    raise(SIGTRAP); /* still installed: no SA_RESETHAND */
    CHECK_EQ(traps, 2);
    if (MASKS_CHECKED) {
        CHECK_EQ(trap_blocked, 0); /* SA_NODEFER */
        CHECK_EQ(usr1_blocked, 0); /* not in its sa_mask */
    }
}

static void child_destroyed_heap(const char *strategy)
{

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = counting;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTRAP, &sa, NULL);
    cmodx_heap *h;
    cmodx_domain *d;
    cmodx_block b;
    child_patch(strategy, &h, &d, &b);
    uintptr_t site = (uintptr_t)b.exec.ptr;
    CHECK(cmodx_domain_destroy(d) == 0);
    CHECK(cmodx_heap_destroy(h) == 0);
    /* Other code at the site's address (as a new heap or library may put
     * there): a breakpoint then a return.  The trap is the program's. */
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t pg = site & ~(uintptr_t)(page - 1);
    uint8_t *m = mmap((void *)pg, (size_t)page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (m == MAP_FAILED || (uintptr_t)m != pg) {
        printf("test_patch_errors: the destroyed heap's page was reused; not tested\n");
        return;
    }
    if (cmodx_patch_insn_size() != 5)
        return; /* no trap table: the breakpoint protocol is x86-64's */
    m[site - pg] = 0xcc;     /* int3 */
    m[site - pg + 1] = 0xc3; /* ret */
    REQUIRE(mprotect(m, (size_t)page, PROT_READ | PROT_EXEC) == 0);
    __builtin___clear_cache((char *)site, (char *)site + 16);
    as_fn(xp((const void *)site))();
    CHECK_EQ(traps, 1);
}

int main(int argc, char **argv)
{
    const char *strategy = argc > 1 ? argv[1] : "membarrier";
    REQUIRE(cmodx_heap_create(NULL, &heap) == 0);
    struct cmodx_domain_config cfg = {.heap = heap, .signal_timeout_ms = 120000};
    cfg.strategy = (enum cmodx_strategy)cmodx_strategy_parse(strategy);
    REQUIRE((int)cfg.strategy > 0);
    int err = cmodx_domain_create(&cfg, &dom);
    uint8_t probe[CMODX_INSN_MAX];
    if (err == ENOSYS || err == ENOTSUP || cmodx_patch_encode_nop(probe) != 0) {
        printf("test_patch_errors: no in-place patching with %s here\n", strategy);
        return 77; /* skipped: test_patch checks the documented refusal */
    }
    REQUIRE(err == 0);
    /* First, before this process patches anything (each child installs
     * its own SIGTRAP disposition before cmodx's handler). */
    int st = in_child(child_ignored, strategy);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = in_child(child_resethand, strategy);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTRAP);
    st = in_child(child_nodefer, strategy);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = in_child(child_destroyed_heap, strategy);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    test_unmapped();
    test_refused_moves_nothing();
    test_special_mappings();
    test_cycles_and_claims();
    test_foreign_after_pad();
    test_batch_text_failure();
    CHECK_EQ(count_wx_mappings(), 0);
    CHECK(cmodx_domain_destroy(dom) == 0);
    return check_finish("test_patch_errors");
}
