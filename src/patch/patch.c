/*
 * src/patch/patch.c - single-instruction patches of code that other
 * threads may be executing, and the protocol that function entries
 * (entry.c) use too.
 *
 * A patch is a publish in place.  The architecture decides whether it is
 * allowed at all and how (src/arch/<arch>-patch.c):
 *
 *   ARCH_PATCH_ATOMIC_STORE (AArch64, Arm ARM B2.2.5):
 *     1. each new instruction: one aligned 32-bit store through the write
 *        view (single-copy atomic, so a core fetches the old or the new
 *        word, never a mix);
 *     2. each: DC CVAU, DSB ISH, IC IVAU, DSB ISH on the execute address
 *        (arch_make_visible_nosync), then one ISB for the writer;
 *     3. each patched page's execute view is mapped afresh (an emulator's
 *        translation of the old instruction is dropped; views.c);
 *     4. ONE cross-thread synchronisation (the domain's before_switch):
 *        every thread context-synchronises after step 2 completed, so its
 *        next fetch of the address sees the new instruction.
 *   ARCH_PATCH_BREAKPOINT (x86-64, Intel SDM Vol. 3A 8.1.3; the protocol
 *   of Linux's text_poke_bp):
 *     1. every site is entered in the trap table with its new instruction;
 *     2. the first byte of each becomes INT3; pages remapped; synchronise
 *        every thread (none still runs a decoded copy of the old first
 *        byte);
 *     3. the other bytes are written; remapped; synchronise (no thread can
 *        run them: every path passes the INT3);
 *     4. the new first byte is written; remapped; synchronise.
 *     A thread that reaches a site meanwhile traps; the SIGTRAP handler
 *     resumes it as if it had run the new instruction (while the INT3 is
 *     there) or at the site (once it is gone).  SIGTRAPs that are not ours
 *     go to the handler the program had.
 *
 * Only strategies that synchronise every thread before before_switch
 * returns (ops->syncs_now) can patch: a direct branch passes no slot, so
 * the epoch and trampoline strategies' per-call check never runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/patch.h"
#include "base/base.h"
#include "base/fork.h"
#include "cmodx/debug.h"
#include "cmodx/error.h"
#include "cmodx/patch.h"
#include "heap/heap.h"
#include "heap/text.h"
#include "patch/patch.h"
#include "strategy/strategy.h"
#include "thread/thread.h"

/* ---- the patch lock, and fork ------------------------------------------------- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void fork_prepare(void) { pthread_mutex_lock(&lock); }
static void fork_parent(void) { pthread_mutex_unlock(&lock); }
/* The child's only thread took the lock in fork_prepare(). */
static void fork_child(void) { pthread_mutex_unlock(&lock); }
static const struct fork_steps patch_fork_steps = {fork_prepare, fork_parent, fork_child,
                                                   NULL, NULL};

void patch_lock(void)
{
    fork_register(FORK_STAGE_PATCH, &patch_fork_steps);
    pthread_mutex_lock(&lock);
}

void patch_unlock(void) { pthread_mutex_unlock(&lock); }

/* ---- the trap table and handler (breakpoint protocol) ------------------------------
 * Every site ever patched by the breakpoint protocol, with the instruction
 * a thread that traps there must behave as if it ran.  Appended under the
 * patch lock, read by the handler without locks (async-signal-safe): an
 * entry is filled before the count that publishes it is increased
 * (release), and the handler reads the count with acquire.
 *
 * A thread's SIGTRAP handler may run long after its INT3: it can be
 * preempted between the trap and the handler, and membarrier waits only
 * for threads that are running.  By then the protocol that wrote the INT3
 * may have ended, and another begun.  So the handler decides from one
 * consistent snapshot of (is a protocol running on the site, the site's
 * first byte, the instruction), taken as a sequence-lock reader does:
 * SEQ is odd while a protocol runs; the writer makes it odd before the
 * INT3 store (release fence between them) and even after the last store
 * of the protocol (release); the handler reads SEQ (acquire), the byte
 * and the instruction, an acquire fence, SEQ again, and retries if it
 * changed.  Reading the byte first and the flag after, as this once did,
 * could see the INT3 of a protocol and then its end: the thread took a
 * trap of ours for a foreign one and returned into the middle of the
 * instruction. */

#define SITES_PER_PAGE 256

struct trap_site {
    uintptr_t site;
    const uint8_t *w; /* moved text: the site's write view, where the
                       * handler reads the first byte (the writer's stores
                       * are atomic there; the execute view is remapped
                       * under it); NULL for heap code (site_arm) */
    uint64_t insn;   /* the new instruction's bytes; atomic */
    uint32_t seq;    /* odd while the protocol runs on this site; atomic */
};

struct trap_page {
    struct trap_site s[SITES_PER_PAGE];
    uint32_t n; /* atomic */
    struct trap_page *next;
};

static struct trap_page *trap_pages; /* atomic head */
static struct sigaction prev_action; /* the program's SIGTRAP handling before ours */
static int handler_installed;

static struct trap_site *site_find(uintptr_t site)
{
    for (struct trap_page *p = __atomic_load_n(&trap_pages, __ATOMIC_ACQUIRE); p; p = p->next) {
        uint32_t n = __atomic_load_n(&p->n, __ATOMIC_ACQUIRE);
        for (uint32_t i = 0; i < n; i++)
            if (p->s[i].site == site)
                return &p->s[i];
    }
    return NULL;
}

/* The program's handling of a SIGTRAP that is not ours, as the kernel
 * would have applied it without cmodx (signal(7), sigaction(2)). */
static void chain(int sig, siginfo_t *si, void *uc)
{
    struct sigaction pa = prev_action; /* one snapshot: SA_RESETHAND may reset it */
    void (*h)(int) = pa.sa_handler;
    if (!(pa.sa_flags & SA_SIGINFO) && h == SIG_IGN) {
        /* Ignored before cmodx: an asynchronous SIGTRAP (kill, raise,
         * sigqueue: si_code <= 0) is discarded, as the kernel would have;
         * a synchronous one (an INT3 not ours) cannot be ignored: the
         * kernel forces the default action, so do we, below. */
        if (si->si_code <= 0)
            return;
    }
    if ((pa.sa_flags & SA_SIGINFO) || (h != SIG_DFL && h != SIG_IGN)) {
        /* SA_RESETHAND: the disposition reverts to the default on entry to
         * the handler, so the next SIGTRAP not ours takes the default. */
        if (pa.sa_flags & SA_RESETHAND) {
            prev_action.sa_handler = SIG_DFL;
            prev_action.sa_flags &= ~(SA_SIGINFO | SA_RESETHAND);
        }
        /* The mask the kernel would have set for that handler: its
         * sa_mask, plus SIGTRAP unless SA_NODEFER (ours runs with SIGTRAP
         * blocked and no other).  Restored when it returns; a handler
         * that siglongjmps out restores its own. */
        sigset_t mask, old;
        mask = pa.sa_mask;
        if (pa.sa_flags & SA_NODEFER)
            sigdelset(&mask, sig);
        else
            sigaddset(&mask, sig);
        pthread_sigmask(SIG_SETMASK, NULL, &old);
        sigset_t now = old;
        for (int s = 1; s < NSIG; s++)
            if (sigismember(&mask, s) == 1)
                sigaddset(&now, s);
        if (pa.sa_flags & SA_NODEFER)
            sigdelset(&now, sig);
        pthread_sigmask(SIG_SETMASK, &now, NULL);
        if (pa.sa_flags & SA_SIGINFO)
            pa.sa_sigaction(sig, si, uc);
        else
            h(sig);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return;
    }
    /* The default action (a core dump), as without cmodx.  Pending until
     * we return. */
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The byte at P, one byte load (single-copy atomic on every architecture).
 * Not an atomic builtin, and not instrumented: ThreadSanitizer models the
 * remap of a heap's execute view (src/heap/views.c) as a write of the
 * whole range and would report this load as racing with it, although the
 * new mapping shows the same file pages; the writer's stores to them go
 * through the write view and are atomic. */
__attribute__((no_sanitize("thread"))) static uint8_t code_byte(const uint8_t *p)
{
    return *(const volatile uint8_t *)p;
}

/* One consistent snapshot of T (see above): its sequence count, the
 * site's first byte now and the instruction.  The byte is read through
 * the write view for moved text (where the writer's stores are atomic
 * while the execute view is remapped), at the site itself for heap code
 * (site_arm). */
static uint32_t site_snapshot(struct trap_site *t, uintptr_t site, uint8_t *first, uint64_t *insn)
{
    for (;;) {
        uint32_t seq = __atomic_load_n(&t->seq, __ATOMIC_ACQUIRE);
        const uint8_t *w = __atomic_load_n(&t->w, __ATOMIC_RELAXED);
        *first = w ? __atomic_load_n(w, __ATOMIC_RELAXED) : code_byte((const uint8_t *)site);
        *insn = __atomic_load_n(&t->insn, __ATOMIC_RELAXED);
        /* Pairs with the writer's release fence after making SEQ odd
         * (site_arm): a byte stored after that fence was read only if
         * SEQ's second read sees the odd value or a later one. */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&t->seq, __ATOMIC_RELAXED) == seq)
            return seq;
    }
}

static void trap_handler(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    uintptr_t site = arch_trap_site(uc, si->si_code);
    struct trap_site *t = site ? site_find(site) : NULL;
    uint8_t first = 0;
    uint64_t v = 0;
    uint32_t seq = t ? site_snapshot(t, site, &first, &v) : 0;
    if (t && (seq & 1) && first == arch_breakpoint_byte()) {
        /* A protocol is running and its INT3 stands: behave as the
         * instruction it writes (or, while it undoes, the old one: a
         * thread may run either). */
        uint8_t insn[8];
        memcpy(insn, &v, 8);
        arch_trap_emulate(uc, site, insn);
    } else if (t && first != arch_breakpoint_byte()) {
        /* The INT3 we trapped on is gone (the protocol moved on, or ended
         * before we got here): run what is there. */
        arch_trap_resume_at(uc, site);
    } else {
        /* No protocol runs and an INT3 stands: not ours (the program's own
         * INT3, or a freed block's trap fill). */
        chain(sig, si, uc);
    }
    errno = saved;
}

/* Under the patch lock: SITE's entry, new or reused, with INSN and its
 * sequence count odd (a protocol runs), before any store of the protocol.
 * Armed again while odd (the undo after a failed step), the count moves
 * on by two, so that a handler's snapshot across the change of INSN is
 * taken again.
 * The write view W is kept only for the program's moved text, which lives
 * as long as the process: a heap's views die with the heap, and its
 * execute address may be reused by other code, where a stale view would
 * be read by the handler (it reads the site itself instead: the thread
 * just trapped there, so it is mapped, and a remap of a heap page is one
 * MAP_FIXED over the same file pages, never a hole). */
static int site_arm(uintptr_t site, const uint8_t *w, const uint8_t *insn)
{
    if (!text_is_moved(site))
        w = NULL;
    if (!handler_installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = trap_handler;
        sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGTRAP, &sa, &prev_action) != 0)
            return cmodx_fail(errno, "patch: cannot install the SIGTRAP handler: %s",
                              strerror(errno));
        handler_installed = 1;
    }
    uint64_t v = 0;
    memcpy(&v, insn, arch_patch_insn_size());
    struct trap_site *t = site_find(site);
    if (!t) {
        struct trap_page *p = __atomic_load_n(&trap_pages, __ATOMIC_RELAXED);
        if (!p || p->n == SITES_PER_PAGE) {
            struct trap_page *np = calloc(1, sizeof *np);
            if (!np)
                return cmodx_fail(ENOMEM, "patch: out of memory for the trap table");
            np->next = p;
            __atomic_store_n(&trap_pages, np, __ATOMIC_RELEASE);
            p = np;
        }
        t = &p->s[p->n];
        t->site = site;
        __atomic_store_n(&t->w, w, __ATOMIC_RELAXED);
        __atomic_store_n(&t->insn, v, __ATOMIC_RELAXED);
        __atomic_store_n(&t->seq, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&p->n, p->n + 1, __ATOMIC_RELEASE);
        __atomic_thread_fence(__ATOMIC_RELEASE); /* as below */
        return 0;
    }
    uint32_t seq = __atomic_load_n(&t->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&t->seq, seq + ((seq & 1) ? 2 : 1), __ATOMIC_RELAXED);
    /* The odd count before the entry's new contents and the INT3 store
     * that follows (pairs with the acquire fence in site_snapshot). */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&t->w, w, __ATOMIC_RELAXED);
    __atomic_store_n(&t->insn, v, __ATOMIC_RELAXED);
    return 0;
}

/* Under the patch lock, after the protocol's last store: the count even
 * (release: a handler that reads it sees the site's final bytes). */
static void site_disarm(uintptr_t site)
{
    struct trap_site *t = site_find(site);
    if (t) {
        uint32_t seq = __atomic_load_n(&t->seq, __ATOMIC_RELAXED);
        if (seq & 1)
            __atomic_store_n(&t->seq, seq + 1, __ATOMIC_RELEASE);
    }
}

/* ---- the protocol ------------------------------------------------------------------ */

int patch_usable(cmodx_domain *d, const char *who)
{
    if (arch_patch_method() == ARCH_PATCH_NONE)
        return cmodx_fail(EINVAL, "%s: %s", who, arch_patch_unsupported_reason());
    if (!d->ops->syncs_now)
        return cmodx_fail(ENOTSUP, "%s: the %s strategy synchronises threads lazily, at their "
                          "next call through a slot; patched code is reached without one: "
                          "create the domain with the membarrier, signal or mprotect strategy",
                          who, d->ops->name);
    return 0;
}

static int sync_all(void *d) { return strategy_before_switch(d); }

int patch_check(cmodx_domain *d, uintptr_t x, size_t len)
{
    void *w;
    if (x % arch_patch_insn_align())
        return cmodx_fail(EINVAL, "patch: %p is not aligned to %zu", (void *)x,
                          arch_patch_insn_align());
    if (d->heap && heap_write_view(d->heap, x, len, &w))
        return 0;
    return text_check(x, len);
}

int patch_resolve(cmodx_domain *d, uintptr_t x, size_t len, void **w)
{
    if (x % arch_patch_insn_align())
        return cmodx_fail(EINVAL, "patch: %p is not aligned to %zu", (void *)x,
                          arch_patch_insn_align());
    if (d->heap && heap_write_view(d->heap, x, len, w))
        return 0;
    return text_write_view(x, len, sync_all, d, w);
}

/* Map the execute view of S's page afresh: in the heap or the moved text. */
static int remap(cmodx_domain *d, uintptr_t x, size_t len)
{
    if (d->heap && heap_remap_exec(d->heap, x, len) == 0)
        return 0;
    int err = text_remap_exec(x, len);
    return err ? cmodx_fail(err, "patch: remapping the execute view at %p failed: %s",
                            (void *)x, strerror(err))
               : 0;
}

static int cmp_uintptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Remap each page that holds a byte of a site once (a system call each:
 * a batch on one page pays one). */
static int remap_pages(cmodx_domain *d, const struct patch_site *s, size_t n, size_t len)
{
    size_t page = cmodx_page_size();
    uintptr_t *pg = malloc(2 * n * sizeof *pg);
    if (!pg)
        return cmodx_fail(ENOMEM, "patch: out of memory");
    for (size_t i = 0; i < n; i++) {
        pg[2 * i] = s[i].x & ~(uintptr_t)(page - 1);
        pg[2 * i + 1] = (s[i].x + len - 1) & ~(uintptr_t)(page - 1);
    }
    qsort(pg, 2 * n, sizeof *pg, cmp_uintptr);
    int err = 0;
    for (size_t i = 0; i < 2 * n && !err; i++)
        if (i == 0 || pg[i] != pg[i - 1])
            err = remap(d, pg[i], 1);
    free(pg);
    return err;
}

/* Store LEN bytes of SRC at W as the architecture's atomic unit: one
 * aligned 32-bit store for a 4-byte instruction (B2.2.5 requires a
 * single-copy-atomic write of the whole instruction), one byte store each
 * otherwise (the breakpoint protocol never lets a thread run bytes while
 * they change). */
static void store(void *w, const uint8_t *src, size_t len)
{
    if (len == 4 && !MUTANT(patch_non_atomic)) {
        uint32_t v;
        memcpy(&v, src, 4);
        __atomic_store_n((uint32_t *)w, v, __ATOMIC_RELAXED);
        return;
    }
    for (size_t i = 0; i < len; i++)
        __atomic_store_n((uint8_t *)w + i, src[i], __ATOMIC_RELAXED);
}

/* Make the stores visible, drop stale translations, synchronise everyone. */
static int publish_step(cmodx_domain *d, struct patch_site *s, size_t n, size_t len)
{
    int err = 0;
    if (MUTANT(patch_no_sync))
        return 0;
    for (size_t i = 0; i < n && !err; i++) {
        err = arch_make_visible_nosync(s[i].x, s[i].x + len);
        if (err)
            err = cmodx_fail(err, "patch: cache maintenance failed: %s", strerror(err));
    }
    if (!err)
        arch_context_sync();
    if (!err)
        err = remap_pages(d, s, n, len);
    if (!err && cmodx_fault_active(CMODX_FAULT_PATCH_SYNC))
        err = cmodx_fail(ENOMEM, "patch: synchronising the threads failed: injected fault "
                         "patch-sync");
    if (!err)
        err = strategy_before_switch(d);
    return err;
}

/* The error ERR of a step after some stores, whose message is already
 * recorded, with what was done about it. */
static int undone(int err)
{
    char why[256];
    snprintf(why, sizeof why, "%s", cmodx_last_error());
    return cmodx_fail(err, "%s; the old instructions were written back", why);
}

static int apply_atomic(cmodx_domain *d, struct patch_site *s, size_t n)
{
    size_t len = arch_patch_insn_size();
    for (size_t i = 0; i < n; i++)
        store(s[i].w, s[i].insn, len);
    int err = publish_step(d, s, n, len);
    if (err) {
        /* Put the old instructions back: a thread may have fetched the new
         * one (allowed: old or new), none will after its next sync. */
        for (size_t i = 0; i < n; i++)
            store(s[i].w, s[i].old, len);
        publish_step(d, s, n, len);
        return undone(err);
    }
    return 0;
}

static int apply_breakpoint(cmodx_domain *d, struct patch_site *s, size_t n)
{
    size_t len = arch_patch_insn_size();
    uint8_t bp = arch_breakpoint_byte();
    int err = 0;
    for (size_t i = 0; i < n && !err; i++)
        err = site_arm(s[i].x, s[i].w, s[i].insn);
    int step = 0;
    if (!err) {
        for (size_t i = 0; i < n; i++)
            store(s[i].w, &bp, 1);
        err = publish_step(d, s, n, len);
        step = 1;
    }
    if (!err) {
        for (size_t i = 0; i < n; i++)
            store((uint8_t *)s[i].w + 1, s[i].insn + 1, len - 1);
        err = publish_step(d, s, n, len);
        step = 2;
    }
    if (!err) {
        for (size_t i = 0; i < n; i++)
            store(s[i].w, s[i].insn, 1);
        err = publish_step(d, s, n, len);
        step = 3;
    }
    if (err && step > 0) {
        /* Undo in reverse: the INT3 first (while it stands, the tail is not
         * run), then the old tail, then the old first byte.  The handler
         * emulates the old instruction meanwhile. */
        for (size_t i = 0; i < n; i++)
            site_arm(s[i].x, s[i].w, s[i].old);
        for (size_t i = 0; i < n; i++)
            store(s[i].w, &bp, 1);
        publish_step(d, s, n, len);
        for (size_t i = 0; i < n; i++)
            store((uint8_t *)s[i].w + 1, s[i].old + 1, len - 1);
        publish_step(d, s, n, len);
        for (size_t i = 0; i < n; i++)
            store(s[i].w, s[i].old, 1);
        publish_step(d, s, n, len);
    }
    for (size_t i = 0; i < n; i++)
        site_disarm(s[i].x);
    if (err && step > 0)
        return undone(err);
    return err;
}

int patch_apply_locked(cmodx_domain *d, struct patch_site *s, size_t n)
{
    if (arch_patch_method() == ARCH_PATCH_ATOMIC_STORE)
        return apply_atomic(d, s, n);
    return apply_breakpoint(d, s, n);
}

/* ---- the public single-instruction patches --------------------------------------- */

size_t cmodx_patch_insn_size(void) { return arch_patch_insn_size(); }

int cmodx_patch_encode_jump(cmodx_xptr at, cmodx_xptr target, int link, void *out)
{
    if (!out || !at.ptr || !target.ptr)
        return cmodx_fail(EINVAL, "cmodx_patch_encode_jump: NULL argument");
    int err = arch_encode_jump((uintptr_t)at.ptr, (uintptr_t)target.ptr, link != 0, out);
    if (err == ERANGE)
        return cmodx_fail(ERANGE, "cmodx_patch_encode_jump: %p is beyond the reach of a jump "
                          "at %p (%zu bytes)", target.ptr, at.ptr, (size_t)arch_jump_reach());
    if (err)
        return cmodx_fail(err, "cmodx_patch_encode_jump: %s",
                          err == EINVAL ? "misaligned address"
                                        : arch_patch_unsupported_reason());
    return 0;
}

int cmodx_patch_encode_nop(void *out)
{
    if (!out)
        return cmodx_fail(EINVAL, "cmodx_patch_encode_nop: NULL argument");
    if (arch_patch_method() == ARCH_PATCH_NONE)
        return cmodx_fail(ENOTSUP, "cmodx_patch_encode_nop: %s",
                          arch_patch_unsupported_reason());
    arch_encode_nop(out);
    return 0;
}

int cmodx_patch_insns(cmodx_domain *d, const struct cmodx_insn_patch *p, size_t n)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_patch_insns");
    if (!d || (!p && n))
        return cmodx_fail(EINVAL, "cmodx_patch_insns: NULL %s", d ? "patches" : "domain");
    if (n == 0)
        return 0;
    size_t len = arch_patch_insn_size();
    struct patch_site *s = calloc(n, sizeof *s);
    if (!s)
        return cmodx_fail(ENOMEM, "cmodx_patch_insns: out of memory");
    struct thread_rec *t = writer_enter(d);
    patch_lock();
    int err = patch_usable(d, "cmodx_patch_insns");
    /* Every check before any store: a refused batch writes nothing. */
    for (size_t i = 0; i < n && !err; i++) {
        s[i].x = (uintptr_t)p[i].at.ptr;
        memcpy(s[i].insn, p[i].insn, len);
        for (size_t j = 0; j < i && !err; j++)
            if (s[j].x < s[i].x + len && s[i].x < s[j].x + len)
                err = cmodx_fail(EINVAL, "cmodx_patch_insns: patches %zu and %zu overlap", j, i);
        if (!err && !s[i].x)
            err = cmodx_fail(EINVAL, "cmodx_patch_insns: patch %zu has a NULL address", i);
        /* The mapping first (reading an unmapped address would fault),
         * then the bytes, read at the execute address (readable: r-xp
         * text or the heap's execute view), then whether the architecture
         * allows the replacement: nothing is moved for a refused patch. */
        if (!err)
            err = patch_check(d, s[i].x, len);
        if (!err)
            err = entries_claimed(s[i].x, len, "cmodx_patch_insns");
        if (!err) {
            const char *why = NULL;
            memcpy(s[i].old, (const void *)s[i].x, len);
            if (arch_patch_allowed(s[i].old, s[i].insn, &why))
                err = cmodx_fail(EINVAL, "cmodx_patch_insns: patch %zu at %p refused: %s", i,
                                 p[i].at.ptr, why);
        }
    }
    /* Only then the write views (the program's text moves here). */
    for (size_t i = 0; i < n && !err; i++) {
        err = patch_resolve(d, s[i].x, len, &s[i].w);
        if (!err && memcmp(s[i].old, s[i].w, len) != 0)
            err = cmodx_fail(EBUSY, "cmodx_patch_insns: patch %zu at %p: the instruction "
                             "changed while it was checked", i, p[i].at.ptr);
    }
    if (!err)
        err = patch_apply_locked(d, s, n);
    patch_unlock();
    writer_leave(d, t);
    free(s);
    return err;
}

int cmodx_patch_insn(cmodx_domain *d, cmodx_xptr at, const void *insn)
{
    if (!insn)
        return cmodx_fail(EINVAL, "cmodx_patch_insn: NULL instruction");
    struct cmodx_insn_patch p = {at, {0}};
    memcpy(p.insn, insn, arch_patch_insn_size());
    return cmodx_patch_insns(d, &p, 1);
}
