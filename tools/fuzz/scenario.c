/*
 * tools/fuzz/scenario.c - the deterministic engine.
 *
 * One thread (the "scenario thread") owns a heap, a second ("foreign")
 * heap and one domain, and drives a random sequence of public calls.  An
 * optional pin thread is registered and online but never quiescent, so
 * that retired blocks stay pending for as long as the scenario wants; the
 * pin may also block the sync signal (signal strategy), which makes
 * publishes time out.  With no other thread acting, the reference model
 * predicts every return value (up to the alternatives fuzz.h allows) and
 * the complete state, which is checked after every step:
 *   - every slot's target is the model's, and its block is live;
 *   - every live block's bytes are intact;
 *   - heap accounting (live blocks and bytes) and reclamation accounting
 *     (retired, freed, pending blocks and bytes) are exact;
 *   - the free hook sees only blocks that were retired, that no slot
 *     targets, and whose grace period has passed;
 *   - no mapping is writable and executable.
 * A second domain ("other", epoch, no threads) shares the domain's heap
 * and has one slot (step_other): the model counts its slot apart (orefs),
 * and says what each call returns when one domain retires, frees or
 * leaves with CMODX_RETIRE_OLD a block the other domain's slot targets
 * (EBUSY, or the block stays live and is the caller's again).
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define SC_SLOTS 6
#define SC_BLOCKS 256
#define IDENT_BASE 0x5c000000u

enum { S_NONE, S_LIVE, S_PENDING, S_FREED };

struct sc_block {
    cmodx_block b;
    int state;
    int heap;           /* 0: the domain's heap, 1: the foreign heap */
    size_t entry;       /* entry point offset (0, or interior) */
    int refs;           /* slots of the domain targeting it */
    int orefs;          /* the other domain's slot targets it (0 or 1) */
    int published;      /* reachable by callers once: free only via retire */
    int doomed;         /* CMODX_RETIRE_OLD while other slots still target it */
    int retired_under_pin; /* retired while the pin was online */
    int inflight;       /* the call under way may retire (and free) it */
    int freed_inflight; /* the hook freed it during that call */
};

struct sc_pin {
    pthread_t th;
    int cmd;      /* atomic: 0 stay, 1 unregister, 2 exit */
    int state;    /* atomic: 0 starting, 1 registered, 2 unregistered */
    int block_signal;
    pid_t tid;
    cmodx_domain *d;
};

struct sc {
    struct fz_rng *r;
    enum cmodx_strategy strategy;
    cmodx_heap *h, *fh;
    size_t h_limit;
    cmodx_domain *d;
    int has_heap;
    cmodx_thread *self;
    int registered, online;
    struct {
        cmodx_slot s;
        int inited;
        int target; /* block index */
    } slot[SC_SLOTS];
    struct sc_block blk[SC_BLOCKS];
    int nblk;
    uint64_t retired, freed;  /* by the library (model) */
    uint64_t hook_calls;
    struct sc_pin *pin;       /* registered pin, or NULL */
    cmodx_domain *od;         /* the other domain on the same heap, or NULL */
    cmodx_slot oslot;         /* its one slot */
    int oslot_target;         /* block index, or -1: not initialised */
    struct sc_pin *parked[4]; /* unregistered pins kept alive (signal blocked) */
    int nparked;
    int heap_gone;            /* heap destroyed before the domain (void API) */
    int short_signal_timeout;
    int pin_gen;              /* which pin: blocks retired under it wait for it */
    unsigned step;
};

static uint32_t ident_of(int i)
{
    return IDENT_BASE + (uint32_t)i;
}

static const void *entry_ptr(const struct sc_block *b)
{
    return (const char *)b->b.exec.ptr + b->entry;
}

/* ---- the pin thread ------------------------------------------------------- */

static void *pin_main(void *arg)
{
    struct sc_pin *p = arg;
    fz_me = FZ_MAX_TRACE - 1;
    if (p->block_signal) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, fz_sync_signal());
        pthread_sigmask(SIG_BLOCK, &s, NULL);
    }
    cmodx_thread *self;
    int err = cmodx_thread_register(p->d, &self);
    if (err)
        fz_fail(K_MODEL, "pin: cmodx_thread_register -> %d (%s)", err, cmodx_last_error());
    p->tid = (pid_t)syscall(SYS_gettid);
    __atomic_store_n(&p->state, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&p->cmd, __ATOMIC_ACQUIRE) == 0)
        usleep(200); /* online, never quiescent */
    err = cmodx_thread_unregister(p->d);
    if (err)
        fz_fail(K_MODEL, "pin: cmodx_thread_unregister -> %d (%s)", err, cmodx_last_error());
    __atomic_store_n(&p->state, 2, __ATOMIC_RELEASE);
    while (__atomic_load_n(&p->cmd, __ATOMIC_ACQUIRE) < 2)
        usleep(200);
    /* The domain is gone: a sync signal left pending in this thread by a
     * timed-out publish must not kill the process now (issue 12, 5b). */
    if (p->block_signal) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, fz_sync_signal());
        fz_set_note("pin thread unblocks the sync signal %d after its domain was destroyed",
                    fz_sync_signal());
        pthread_sigmask(SIG_UNBLOCK, &s, NULL);
        fz_set_note("%s", "");
    }
    return NULL;
}

static void pin_start(struct sc *s, int block_signal)
{
    struct sc_pin *p = calloc(1, sizeof *p);
    p->d = s->d;
    p->block_signal = block_signal;
    fz_begin("pin thread: register and stay online without quiescent states%s",
             block_signal ? ", sync signal blocked" : "");
    pthread_create(&p->th, NULL, pin_main, p);
    while (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) != 1)
        usleep(100);
    fz_end("-> tid %d", (int)p->tid);
    s->pin = p;
    s->pin_gen++;
}

/* The pin leaves the domain; a pin that blocked the signal stays alive
 * (unregistered) until the domain is destroyed. */
static void pin_leave(struct sc *s)
{
    struct sc_pin *p = s->pin;
    fz_begin("pin thread %d: unregister", (int)p->tid);
    __atomic_store_n(&p->cmd, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) != 2)
        usleep(100);
    fz_end("-> done");
    s->pin = NULL;
    if (p->block_signal && s->nparked < 4) {
        s->parked[s->nparked++] = p;
        return;
    }
    __atomic_store_n(&p->cmd, 2, __ATOMIC_RELEASE);
    pthread_join(p->th, NULL);
    free(p);
}

static void pins_release_parked(struct sc *s)
{
    for (int i = 0; i < s->nparked; i++) {
        struct sc_pin *p = s->parked[i];
        fz_begin("parked pin %d: unblock the sync signal and exit (its domain is destroyed)",
                 (int)p->tid);
        __atomic_store_n(&p->cmd, 2, __ATOMIC_RELEASE);
        pthread_join(p->th, NULL);
        fz_end("-> survived");
        free(p);
    }
    s->nparked = 0;
}

/* ---- the free hook: the library is about to trap-fill BLOCK -------------- */

static void free_hook(void *arg, cmodx_xptr x)
{
    struct sc *s = arg;
    s->hook_calls++;
    /* Calls back into the domain (issue 12: the hook runs after the writer
     * lock is released; it used to deadlock): the statistics are read, and
     * destroying the domain from its own hook is refused (EDEADLK).  A
     * hang is the watchdog's. */
    if (s->d && fz_chance(s->r, 10)) {
        struct cmodx_reclaim_stats rs;
        cmodx_reclaim_get_stats(s->d, &rs);
        int err = cmodx_domain_destroy(s->d);
        FZ_EXPECT(K_LIFETIME, "cmodx_domain_destroy from the domain's own free hook", err,
                  EDEADLK);
    }
    for (int i = 0; i < s->nblk; i++) {
        struct sc_block *b = &s->blk[i];
        if (b->b.exec.ptr != x.ptr || b->state == S_FREED || b->state == S_NONE)
            continue;
        if (b->orefs)
            fz_fail(K_BLOCK, "the library frees block #%d (%p) while the other domain's slot "
                    "targets it: a retirement ignored a slot of another domain sharing the "
                    "heap", i, x.ptr);
        if (b->state == S_LIVE && b->inflight) {
            /* Retired by the call under way, and its grace period passed
             * within the call: the caller's model catches up afterwards. */
            b->state = S_FREED;
            b->freed_inflight = 1;
            s->freed++;
            return;
        }
        if (b->state == S_LIVE && b->doomed && b->refs)
            fz_fail(K_BLOCK, "the library frees block #%d (%p) while %d slot(s) still target "
                    "it: an earlier CMODX_RETIRE_OLD retired it although another slot shared "
                    "it", i, x.ptr, b->refs);
        if (b->state == S_LIVE && b->doomed) {
            /* Retired while shared, freed once its last slot was finished
             * (cmodx_slot_fini may drop the last reference): accepted. */
            b->state = S_FREED;
            b->doomed = 0;
            s->freed++;
            s->retired++;
            return;
        }
        if (b->state != S_PENDING)
            fz_fail(K_BLOCK, "the library frees block #%d (%p), which is live and was never "
                    "retired (%d slot(s) target it): a retire or CMODX_RETIRE_OLD freed it "
                    "twice or took the wrong block", i, x.ptr, b->refs);
        if (b->refs)
            fz_fail(K_BLOCK, "the library frees block #%d (%p) while %d slot(s) still target "
                    "it (shared target: CMODX_RETIRE_OLD must retire a block only when no slot "
                    "of the domain targets it)", i, x.ptr, b->refs);
        if (b->retired_under_pin && s->pin && b->retired_under_pin == s->pin_gen)
            fz_fail(K_BLOCK, "the library frees block #%d (%p) before its grace period: the "
                    "pin thread %d is online and never passed a quiescent state", i, x.ptr,
                    (int)s->pin->tid);
        b->state = S_FREED;
        s->freed++;
        return;
    }
    for (int i = 0; i < s->nblk; i++)
        if (s->blk[i].b.exec.ptr == x.ptr)
            fz_fail(K_BLOCK, "the library frees block #%d (%p) a second time: it was retired "
                    "twice (a second retirement of a pending block was accepted)", i, x.ptr);
    fz_fail(K_BLOCK, "the library frees %p, which is not the start of any block the model "
            "knows as retired", x.ptr);
}

/* ---- the invariants, after every step ------------------------------------ */

static void check_heap(struct sc *s, cmodx_heap *h, int which)
{
    struct cmodx_heap_stats st;
    cmodx_heap_get_stats(h, &st);
    size_t n = 0, bytes = 0;
    for (int i = 0; i < s->nblk; i++) {
        struct sc_block *b = &s->blk[i];
        if (b->heap == which && (b->state == S_LIVE || b->state == S_PENDING)) {
            n++;
            bytes += b->b.size;
        }
    }
    if (st.live_blocks != n || st.live_bytes != bytes)
        fz_fail(K_BLOCK, "%s heap accounting: live_blocks %zu, live_bytes %zu; the model has "
                "%zu live (or pending) blocks of %zu bytes", which ? "foreign" : "domain's",
                st.live_blocks, st.live_bytes, n, bytes);
}

static void check_all(struct sc *s)
{
    for (int i = 0; i < SC_SLOTS; i++) {
        if (!s->slot[i].inited)
            continue;
        struct sc_block *b = &s->blk[s->slot[i].target];
        const void *t = __atomic_load_n(&s->slot[i].s.target, __ATOMIC_RELAXED);
        if (t != entry_ptr(b))
            fz_fail(K_BLOCK, "slot %d targets %p; the model says block #%d at %p", i, t,
                    s->slot[i].target, entry_ptr(b));
        if (b->state != S_LIVE)
            fz_fail(K_BLOCK, "slot %d still targets block #%d, which is %s", i,
                    s->slot[i].target, b->state == S_FREED ? "freed" : "retired");
        cmodx_heap *bh = b->heap ? s->fh : s->h;
        cmodx_xptr start;
        if (!s->heap_gone && (!cmodx_heap_contains(bh, (cmodx_xptr){t}, &start) ||
                              start.ptr != b->b.exec.ptr))
            fz_fail(K_BLOCK, "slot %d targets %p, which is not inside a live block of its heap "
                    "(freed block reachable from a slot)", i, t);
    }
    for (int i = 0; i < s->nblk; i++) {
        struct sc_block *b = &s->blk[i];
        if ((b->state == S_LIVE || b->state == S_PENDING) && !(s->heap_gone && !b->heap) &&
            !fz_code_intact(&b->b, b->entry, ident_of(i)))
            fz_fail(K_BLOCK, "block #%d (%p, %zu bytes, %s) no longer holds the bytes written "
                    "to it (first byte now 0x%02x)", i, b->b.exec.ptr, b->b.size,
                    b->state == S_LIVE ? "live" : "retired, pending",
                    *(unsigned char *)b->b.write.ptr);
    }
    if (!s->heap_gone)
        check_heap(s, s->h, 0);
    check_heap(s, s->fh, 1);
    if (s->d) {
        struct cmodx_reclaim_stats rs;
        memset(&rs, 0, sizeof rs);
        cmodx_reclaim_get_stats(s->d, &rs);
        /* A block retired while shared may count as retired (and pending)
         * from then on, or only once no slot targets it: both accepted. */
        size_t pend = 0, pend_bytes = 0, doomed = 0, doomed_bytes = 0;
        for (int i = 0; i < s->nblk; i++) {
            if (s->blk[i].state == S_PENDING) {
                pend++;
                pend_bytes += s->blk[i].b.size;
            } else if (s->blk[i].state == S_LIVE && s->blk[i].doomed) {
                doomed++;
                doomed_bytes += s->blk[i].b.size;
            }
        }
        size_t extra = (size_t)(rs.retired_blocks - s->retired);
        if (rs.retired_blocks < s->retired || extra > doomed || rs.freed_blocks != s->freed ||
            rs.pending_blocks != pend + extra || rs.pending_bytes < pend_bytes ||
            rs.pending_bytes > pend_bytes + doomed_bytes)
            fz_fail(K_BLOCK, "reclamation accounting: retired %llu, freed %llu, pending %zu "
                    "blocks / %zu bytes; the model has retired %llu, freed %llu, pending %zu / "
                    "%zu (+%zu retired while shared)", (unsigned long long)rs.retired_blocks,
                    (unsigned long long)rs.freed_blocks, rs.pending_blocks, rs.pending_bytes,
                    (unsigned long long)s->retired, (unsigned long long)s->freed, pend,
                    pend_bytes, doomed);
    }
    fz_check_no_wx();
}

/* ---- helpers ---------------------------------------------------------------- */

static int other_thread_online(const struct sc *s)
{
    return s->pin != NULL;
}

static int pick_block(struct sc *s, int (*ok)(const struct sc_block *))
{
    int cand[SC_BLOCKS], n = 0;
    for (int i = 0; i < s->nblk; i++)
        if (ok(&s->blk[i]))
            cand[n++] = i;
    return n ? cand[fz_below(s->r, (unsigned)n)] : -1;
}

static int is_live(const struct sc_block *b)
{
    return b->state == S_LIVE;
}
static int is_publishable(const struct sc_block *b)
{
    return b->state == S_LIVE && !b->doomed;
}
static int is_unreachable_live(const struct sc_block *b)
{
    return b->state == S_LIVE && !b->refs && !b->orefs && !b->doomed && b->heap == 0;
}
static int is_never_published(const struct sc_block *b)
{
    return b->state == S_LIVE && !b->published && !b->orefs;
}
static int is_other_targeted(const struct sc_block *b)
{
    return b->state == S_LIVE && b->orefs && !b->refs && !b->doomed && b->heap == 0;
}
static int is_own_targeted(const struct sc_block *b)
{
    return b->state == S_LIVE && b->refs && !b->orefs && b->heap == 0;
}
static int is_gone(const struct sc_block *b)
{
    return b->state == S_FREED || b->state == S_PENDING;
}

static int pick_slot(struct sc *s, int inited)
{
    int cand[SC_SLOTS], n = 0;
    for (int i = 0; i < SC_SLOTS; i++)
        if (s->slot[i].inited == inited)
            cand[n++] = i;
    return n ? cand[fz_below(s->r, (unsigned)n)] : -1;
}

/* Allocate, write and make visible a block of the domain's heap (or the
 * foreign heap); returns its index or -1. */
static int new_block(struct sc *s, int foreign)
{
    if (s->nblk == SC_BLOCKS || (s->heap_gone && !foreign))
        return -1;
    static const size_t sizes[] = {1, 24, 64, 100, 160, 256, 500, 1000};
    size_t req = sizes[fz_below(s->r, 8)];
    cmodx_heap *h = foreign ? s->fh : s->h;
    struct cmodx_heap_stats before, after;
    cmodx_heap_get_stats(h, &before);
    cmodx_block b;
    memset(&b, 0, sizeof b);
    fz_begin("cmodx_block_alloc(%s heap, %zu)", foreign ? "foreign" : "domain's", req);
    int err = cmodx_block_alloc(h, req, &b);
    fz_end("-> %d %p+%zu", err, b.exec.ptr, b.size);
    if (err == ENOMEM && !foreign && s->h_limit) {
        cmodx_heap_get_stats(h, &after);
        if (after.live_blocks != before.live_blocks || after.mapped_bytes != before.mapped_bytes)
            fz_fail(K_BLOCK, "cmodx_block_alloc failed with ENOMEM but changed the heap "
                    "(live blocks %zu -> %zu, mapped %zu -> %zu)", before.live_blocks,
                    after.live_blocks, before.mapped_bytes, after.mapped_bytes);
        return -1;
    }
    FZ_EXPECT(K_ERRORS, "cmodx_block_alloc", err, 0);
    size_t align = before.alignment;
    if (b.size < req || (align && (b.size % align || (uintptr_t)b.exec.ptr % align)))
        fz_fail(K_BOUNDS, "cmodx_block_alloc(%zu) gave %p+%zu, not a multiple of the heap's "
                "%zu-byte alignment or too small", req, b.exec.ptr, b.size, align);
    int i = s->nblk++;
    struct sc_block *nb = &s->blk[i];
    memset(nb, 0, sizeof *nb);
    nb->b = b;
    nb->heap = foreign;
    nb->state = S_LIVE;
    size_t code = cmodx_emit_return_u32_size();
    nb->entry = (b.size >= 64 + code && fz_chance(s->r, 30)) ? 64 : 0;
    fz_begin("write block #%d: return %#x at offset %zu, trap fill elsewhere", i, ident_of(i),
             nb->entry);
    err = fz_write_code(&b, nb->entry, ident_of(i));
    fz_end("-> %d", err);
    FZ_EXPECT(K_ERRORS, "cmodx_block_write (whole block)", err, 0);
    err = cmodx_make_visible(b.exec, b.size);
    FZ_EXPECT(K_ERRORS, "cmodx_make_visible", err, 0);
    return i;
}

static void call_slots(struct sc *s)
{
    if (!s->registered || !s->online)
        return;
    for (int i = 0; i < SC_SLOTS; i++) {
        if (!s->slot[i].inited)
            continue;
        int bi = s->slot[i].target;
        fz_begin("call slot %d (expect block #%d: %#x)", i, bi, ident_of(bi));
        uint32_t v = fz_call(cmodx_slot_target(&s->slot[i].s, s->self));
        fz_end("-> %#x", v);
        if (v != ident_of(bi))
            fz_fail(K_BLOCK, "slot %d returned %#x; the model says block #%d (%#x)", i, v, bi,
                    ident_of(bi));
    }
    cmodx_quiescent(s->self);
}

/* ---- one entry of a publish or batch: what the model allows -------------- */

struct expect {
    int may_succeed, may_fail; /* fail = EINVAL (or EBUSY for shared) */
    int on_success;            /* what happens to the old block */
};
enum { OLD_KEEP, OLD_RETIRE, OLD_DOOM, OLD_OWNED_AGAIN };

/* FINAL_REFS: how many slots target each block once the whole batch is
 * applied ("retire only when no slot of the domain still targets it" is
 * judged on the state the commit leaves). */
static struct expect expect_entry(struct sc *s, int old, int new, unsigned flags,
                                  const int *final_refs)
{
    struct expect e = {1, 0, OLD_KEEP};
    struct sc_block *ob = &s->blk[old];
    int others = final_refs[old];
    if ((flags & CMODX_RETIRE_OLD) && !s->has_heap) {
        e.may_succeed = 0; /* CMODX_RETIRE_OLD needs a domain with a heap */
        e.may_fail = 1;
        return e;
    }
    if (old == new) {
        e.on_success = OLD_KEEP; /* nothing replaced */
        return e;
    }
    if (!(flags & CMODX_RETIRE_OLD)) {
        e.on_success = OLD_KEEP;
        return e;
    }
    if (ob->heap != 0) {
        e.may_succeed = FZ_POLICY_FOREIGN_IGNORE;
        e.may_fail = FZ_POLICY_FOREIGN_FAIL;
        e.on_success = OLD_KEEP;
        return e;
    }
    if (others > 0) {
        e.may_succeed = FZ_POLICY_SHARED_REFCOUNT;
        e.may_fail = FZ_POLICY_SHARED_FAIL;
        e.on_success = OLD_DOOM;
        return e;
    }
    if (ob->entry) {
        e.may_succeed = FZ_POLICY_INTERIOR_RETIRE;
        e.may_fail = FZ_POLICY_INTERIOR_FAIL;
        e.on_success = OLD_RETIRE;
        return e;
    }
    e.on_success = OLD_RETIRE;
    return e;
}

/* Blocks the next call may retire; after it, anything the hook freed must
 * be something the model retired. */
static void inflight_begin(struct sc *s, int bi)
{
    s->blk[bi].inflight = 1;
}

static void inflight_end(struct sc *s, const char *call)
{
    for (int i = 0; i < s->nblk; i++) {
        struct sc_block *b = &s->blk[i];
        if (b->freed_inflight)
            fz_fail(K_BLOCK, "%s freed block #%d during the call, although %s", call, i,
                    b->refs ? "another slot of the domain still targets it (shared target: "
                              "CMODX_RETIRE_OLD must wait until no slot targets the block)"
                            : "the model says the call must not retire it");
        b->inflight = 0;
    }
}

static void retire_model(struct sc *s, int bi)
{
    struct sc_block *b = &s->blk[bi];
    s->retired++;
    b->doomed = 0;
    if (b->freed_inflight) {
        b->freed_inflight = 0; /* retired and already freed within the call */
        return;
    }
    b->state = S_PENDING;
    b->retired_under_pin = s->pin ? s->pin_gen : 0;
}

/* Apply a successful switch of slot SI to block NEW in the model. */
static void apply_switch(struct sc *s, int si, int new, int on_success)
{
    int old = s->slot[si].target;
    s->blk[old].refs--;
    s->blk[new].refs++;
    s->blk[new].published = 1;
    s->slot[si].target = new;
    struct sc_block *ob = &s->blk[old];
    if (old == new)
        return;
    /* Retired at most once, even if two entries of a batch leave it.  Not
     * while the other domain's slot targets it: the library's retirement
     * is refused, and the block stays live, the caller's again. */
    if (on_success == OLD_RETIRE && ob->orefs)
        ob->doomed = 0;
    else if (on_success == OLD_RETIRE && (ob->state == S_LIVE || ob->freed_inflight))
        retire_model(s, old);
    else if (on_success == OLD_DOOM)
        ob->doomed = 1;
}

/* After a whole publish or batch: a block retired while shared is retired
 * once no slot targets it any more (FZ_POLICY_SHARED_REFCOUNT). */
static void settle_doomed(struct sc *s)
{
    for (int i = 0; i < s->nblk; i++) {
        struct sc_block *b = &s->blk[i];
        if (b->doomed && b->refs == 0 && b->orefs)
            b->doomed = 0; /* refused (another domain's slot): live, ours again */
        else if (b->doomed && b->refs == 0 && (b->state == S_LIVE || b->freed_inflight))
            retire_model(s, i);
    }
}

/* ---- the steps ------------------------------------------------------------- */

static void step_alloc(struct sc *s)
{
    unsigned k = fz_below(s->r, 10);
    if (k == 0) {
        cmodx_block b;
        size_t bad = fz_chance(s->r, 50) ? 0 : ((size_t)1 << 30) + 1;
        fz_begin("cmodx_block_alloc(heap, %zu) [bad size]", bad);
        int err = cmodx_block_alloc(s->h ? s->h : s->fh, bad, &b);
        fz_end("-> %d", err);
        FZ_EXPECT(K_BOUNDS, "cmodx_block_alloc with size 0 or above 1 GiB", err, EINVAL);
        fz_begin("cmodx_block_alloc(heap, 64, NULL)");
        err = cmodx_block_alloc(s->fh, 64, NULL);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_block_alloc with NULL out", err, EINVAL);
        return;
    }
    new_block(s, k == 1);
}

static void step_write(struct sc *s)
{
    int bi = pick_block(s, is_live);
    if (bi < 0)
        return;
    struct sc_block *b = &s->blk[bi];
    char junk[8] = {0};
    int err;
    switch (fz_below(s->r, 4)) {
    case 0:
        fz_begin("cmodx_block_write(#%d, %zu, junk, 8) [past the end]", bi, b->b.size - 4);
        err = cmodx_block_write(&b->b, b->b.size - 4, junk, 8);
        fz_end("-> %d", err);
        FZ_EXPECT(K_BOUNDS, "cmodx_block_write past the end of the block", err, EINVAL);
        break;
    case 1:
        fz_begin("cmodx_block_write(#%d, SIZE_MAX, junk, 2) [offset wraps]", bi);
        err = cmodx_block_write(&b->b, SIZE_MAX, junk, 2);
        fz_end("-> %d", err);
        FZ_EXPECT(K_BOUNDS, "cmodx_block_write with a wrapping offset", err, EINVAL);
        break;
    case 2:
        fz_begin("cmodx_block_write(#%d, 0, NULL, 0) [empty write]", bi);
        err = cmodx_block_write(&b->b, 0, NULL, 0);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_block_write(b, 0, NULL, 0)", err, 0);
        break;
    default:
        fz_begin("cmodx_block_write(NULL, 0, junk, 1)");
        err = cmodx_block_write(NULL, 0, junk, 1);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_block_write(NULL, ...)", err, EINVAL);
        break;
    }
}

static void step_free(struct sc *s)
{
    int err;
    unsigned k = fz_below(s->r, 4);
    if (k == 0) {
        int bi = pick_block(s, is_never_published);
        if (bi < 0)
            return;
        struct sc_block *b = &s->blk[bi];
        cmodx_heap *h = b->heap ? s->fh : s->h;
        fz_begin("cmodx_block_free(#%d %p) [never published]", bi, b->b.exec.ptr);
        err = cmodx_block_free(h, b->b.exec);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_block_free of a live block", err, 0);
        b->state = S_FREED;
        if (cmodx_heap_contains(h, b->b.exec, NULL))
            fz_fail(K_BLOCK, "block #%d is still live after cmodx_block_free", bi);
        return;
    }
    if (k == 1) {
        int bi = pick_block(s, is_gone);
        if (bi < 0 || s->blk[bi].heap != 0 || s->heap_gone)
            return;
        struct sc_block *b = &s->blk[bi];
        if (cmodx_heap_contains(s->h, b->b.exec, NULL))
            return; /* the space went to another block */
        fz_begin("cmodx_block_free(#%d %p) [%s: double free]", bi, b->b.exec.ptr,
                 b->state == S_PENDING ? "retired, pending" : "freed");
        err = cmodx_block_free(s->h, b->b.exec);
        fz_end("-> %d", err);
        FZ_EXPECT(K_BLOCK, "cmodx_block_free of a freed block", err, EINVAL);
        return;
    }
    int bi = pick_block(s, is_live);
    if (bi < 0)
        return;
    struct sc_block *b = &s->blk[bi];
    if (k == 2 && b->b.size > 64) {
        cmodx_xptr in = {(const char *)b->b.exec.ptr + 64};
        fz_begin("cmodx_block_free(#%d + 64) [interior]", bi);
        err = cmodx_block_free(b->heap ? s->fh : s->h, in);
        fz_end("-> %d", err);
        FZ_EXPECT(K_BLOCK, "cmodx_block_free of an interior address", err, EINVAL);
    } else if (!s->heap_gone) {
        cmodx_heap *wrong = b->heap ? s->h : s->fh;
        fz_begin("cmodx_block_free(other heap, #%d)", bi);
        err = cmodx_block_free(wrong, b->b.exec);
        fz_end("-> %d", err);
        FZ_EXPECT(K_BLOCK, "cmodx_block_free of another heap's block", err, EINVAL);
    }
}

static void step_slot_init(struct sc *s)
{
    int si = pick_slot(s, 0);
    int bi = pick_block(s, is_publishable);
    if (si < 0 || bi < 0 || !s->d)
        return;
    struct sc_block *b = &s->blk[bi];
    int err;
    memset(&s->slot[si].s, 0, sizeof s->slot[si].s);
    /* The library can recognise a write-view address of its own heap. */
    if (b->heap == 0 && s->has_heap && !s->heap_gone && !fz_no_misuse && fz_chance(s->r, 25)) {
        cmodx_xptr wv = {b->b.write.ptr};
        fz_begin("cmodx_slot_init(slot %d, write view of #%d) [misuse]", si, bi);
        err = cmodx_slot_init(s->d, &s->slot[si].s, wv);
        fz_end("-> %d", err);
        FZ_EXPECT(K_BLOCK, "cmodx_slot_init with a write-view address", err, EINVAL);
        if (fz_chance(s->r, 50)) {
            /* A failed init leaves the slot unusable. */
            cmodx_xptr old;
            fz_begin("cmodx_slot_publish(slot %d after its failed init)", si);
            err = cmodx_slot_publish(&s->slot[si].s, (cmodx_xptr){entry_ptr(b)},
                                     cmodx_emit_return_u32_size(), 0, &old);
            fz_end("-> %d", err);
            FZ_EXPECT(K_LIFETIME, "cmodx_slot_publish into a slot whose init failed", err,
                      EINVAL);
        }
        return;
    }
    fz_begin("cmodx_slot_init(slot %d, #%d+%zu)", si, bi, b->entry);
    err = cmodx_slot_init(s->d, &s->slot[si].s, (cmodx_xptr){entry_ptr(b)});
    fz_end("-> %d", err);
    FZ_EXPECT(K_ERRORS, "cmodx_slot_init", err, 0);
    s->slot[si].inited = 1;
    s->slot[si].target = bi;
    b->refs++;
    b->published = 1;
}

static void step_slot_fini(struct sc *s)
{
    int si = pick_slot(s, 1);
    if (si < 0)
        return;
    int bi = s->slot[si].target;
    struct sc_block *b = &s->blk[bi];
    /* Misuse: init of a live slot (same domain) is refused and leaves the
     * slot as it was: its block keeps its count (the model's refs are not
     * changed), its trampoline id is not leaked. */
    int ni = pick_block(s, is_publishable);
    if (!fz_no_misuse && ni >= 0 && fz_chance(s->r, 25)) {
        fz_begin("cmodx_slot_init(live slot %d, #%d) [misuse: re-init]", si, ni);
        int err = cmodx_slot_init(s->d, &s->slot[si].s, (cmodx_xptr){entry_ptr(&s->blk[ni])});
        fz_end("-> %d", err);
        FZ_EXPECT(K_LIFETIME, "cmodx_slot_init of an initialised slot", err, EINVAL);
    }
    /* Misuse: freeing the block a live slot targets is refused (EBUSY),
     * the block stays live (the invariant checks then find its bytes). */
    if (!fz_no_misuse && !(s->heap_gone && !b->heap) && b->state == S_LIVE &&
        fz_chance(s->r, 25)) {
        fz_begin("cmodx_block_free(#%d, targeted by slot %d) [misuse]", bi, si);
        int err = cmodx_block_free(b->heap ? s->fh : s->h, b->b.exec);
        fz_end("-> %d", err);
        FZ_EXPECT(K_BLOCK, "cmodx_block_free of a block a slot targets", err, EBUSY);
    }
    fz_begin("cmodx_slot_fini(slot %d)%s", si, b->doomed ? " [doomed target]" : "");
    inflight_begin(s, bi);
    cmodx_slot_fini(&s->slot[si].s);
    fz_end("-> done");
    s->slot[si].inited = 0;
    b->refs--;
    /* The library's rule: a block that CMODX_RETIRE_OLD left is retired
     * when the last slot targeting it leaves it, by cmodx_slot_fini too. */
    settle_doomed(s);
    inflight_end(s, "cmodx_slot_fini");
    if (fz_chance(s->r, 50)) {
        fz_begin("cmodx_slot_publish(slot %d after fini)", si);
        int err = cmodx_slot_publish(&s->slot[si].s, (cmodx_xptr){entry_ptr(b)},
                                     cmodx_emit_return_u32_size(), 0, NULL);
        fz_end("-> %d", err);
        FZ_EXPECT(K_LIFETIME, "cmodx_slot_publish into a finished slot", err, EINVAL);
    }
}

static void step_publish_misuse(struct sc *s, int si)
{
    int bi = pick_block(s, is_publishable);
    if (bi < 0 || s->blk[bi].heap != 0 || !s->has_heap || s->heap_gone)
        return;
    struct sc_block *b = &s->blk[bi];
    const void *before = __atomic_load_n(&s->slot[si].s.target, __ATOMIC_RELAXED);
    size_t rest = b->b.size - b->entry;
    int err;
    const char *what;
    switch (fz_below(s->r, 5)) {
    case 0:
        what = "a length past the end of the block";
        fz_begin("cmodx_slot_publish(slot %d, #%d+%zu, len %zu) [%s]", si, bi, b->entry,
                 rest + 64, what);
        err = cmodx_slot_publish(&s->slot[si].s, (cmodx_xptr){entry_ptr(b)}, rest + 64, 0, NULL);
        break;
    case 1:
        what = "a write-view address";
        fz_begin("cmodx_slot_publish(slot %d, write view of #%d) [%s]", si, bi, what);
        err = cmodx_slot_publish(&s->slot[si].s, (cmodx_xptr){b->b.write.ptr},
                                 cmodx_emit_return_u32_size(), 0, NULL);
        break;
    case 2:
        what = "unknown flags";
        fz_begin("cmodx_slot_publish(slot %d, #%d, flags 0x40) [%s]", si, bi, what);
        err = cmodx_slot_publish(&s->slot[si].s, (cmodx_xptr){entry_ptr(b)},
                                 cmodx_emit_return_u32_size(), 0x40, NULL);
        break;
    case 3:
        what = "length 0";
        fz_begin("cmodx_slot_publish(slot %d, #%d, len 0) [%s]", si, bi, what);
        err = cmodx_slot_publish(&s->slot[si].s, (cmodx_xptr){entry_ptr(b)}, 0, 0, NULL);
        break;
    default:
        what = "a NULL slot";
        fz_begin("cmodx_slot_publish(NULL, #%d) [%s]", bi, what);
        err = cmodx_slot_publish(NULL, (cmodx_xptr){entry_ptr(b)}, 4, 0, NULL);
        break;
    }
    fz_end("-> %d", err);
    char call[96];
    snprintf(call, sizeof call, "cmodx_slot_publish with %s", what);
    FZ_EXPECT(K_BLOCK, call, err, EINVAL);
    if (__atomic_load_n(&s->slot[si].s.target, __ATOMIC_RELAXED) != before)
        fz_fail(K_BLOCK, "a failed cmodx_slot_publish changed slot %d", si);
}

/* Publish one slot (N == 1) or a batch of N entries. */
static void step_publish(struct sc *s, unsigned n)
{
    if (!s->d)
        return;
    int si0 = pick_slot(s, 1);
    if (si0 < 0)
        return;
    if (n == 1 && !fz_no_misuse && fz_chance(s->r, 15)) {
        step_publish_misuse(s, si0);
        return;
    }
    struct {
        int si, nb;
        unsigned flags;
        struct expect e;
        int old;
    } ent[4];
    int refs[SC_BLOCKS];
    int target[SC_SLOTS];
    memset(refs, 0, sizeof refs);
    for (int i = 0; i < s->nblk; i++)
        refs[i] = s->blk[i].refs;
    for (int i = 0; i < SC_SLOTS; i++)
        target[i] = s->slot[i].target;
    int may_succeed = 1, may_fail = 0;
    for (unsigned k = 0; k < n; k++) {
        int si = (k == 0) ? si0 : pick_slot(s, 1);
        int nb;
        if (fz_chance(s->r, 60) || (nb = pick_block(s, is_publishable)) < 0)
            nb = new_block(s, fz_chance(s->r, 10));
        if (nb < 0)
            return;
        if (s->heap_gone && s->blk[nb].heap == 0)
            return;
        ent[k].si = si;
        ent[k].nb = nb;
        ent[k].flags = fz_chance(s->r, 70) ? CMODX_RETIRE_OLD : 0;
        ent[k].old = target[si];
        refs[target[si]]--;
        refs[nb]++;
        target[si] = nb;
    }
    for (unsigned k = 0; k < n; k++) {
        ent[k].e = expect_entry(s, ent[k].old, ent[k].nb, ent[k].flags, refs);
        may_succeed &= ent[k].e.may_succeed;
        may_fail |= ent[k].e.may_fail;
    }
    int timeout_ok = other_thread_online(s);
    int err;
    for (unsigned k = 0; k < n; k++)
        inflight_begin(s, ent[k].old);
    struct cmodx_reclaim_stats rs0, rs1;
    memset(&rs0, 0, sizeof rs0);
    memset(&rs1, 0, sizeof rs1);
    cmodx_reclaim_get_stats(s->d, &rs0);
    cmodx_xptr olds[4];
    memset(olds, 0, sizeof olds);
    if (n == 1) {
        fz_begin("cmodx_slot_publish(slot %d: #%d -> #%d+%zu, %s)", ent[0].si, ent[0].old,
                 ent[0].nb, s->blk[ent[0].nb].entry,
                 ent[0].flags ? "RETIRE_OLD" : "keep old");
        err = cmodx_slot_publish(&s->slot[ent[0].si].s, (cmodx_xptr){entry_ptr(&s->blk[ent[0].nb])},
                                 cmodx_emit_return_u32_size(), ent[0].flags, &olds[0]);
        fz_end("-> %d", err);
    } else {
        cmodx_batch *bt;
        err = cmodx_batch_begin(s->d, &bt);
        FZ_EXPECT(K_ERRORS, "cmodx_batch_begin", err, 0);
        for (unsigned k = 0; k < n; k++) {
            fz_begin("cmodx_batch_add(slot %d: #%d -> #%d+%zu, %s)", ent[k].si, ent[k].old,
                     ent[k].nb, s->blk[ent[k].nb].entry, ent[k].flags ? "RETIRE_OLD" : "keep old");
            err = cmodx_batch_add(bt, &s->slot[ent[k].si].s,
                                  (cmodx_xptr){entry_ptr(&s->blk[ent[k].nb])},
                                  cmodx_emit_return_u32_size(), ent[k].flags);
            fz_end("-> %d", err);
            if (err) {
                FZ_EXPECT(K_BLOCK, "cmodx_batch_add", err, may_fail ? EINVAL : 0);
                fz_begin("cmodx_batch_abort");
                cmodx_batch_abort(bt);
                fz_end("-> done");
                inflight_end(s, "cmodx_batch_add");
                return; /* nothing was switched */
            }
        }
        if (fz_chance(s->r, 10)) {
            fz_begin("cmodx_batch_abort (%u entries)", n);
            cmodx_batch_abort(bt);
            fz_end("-> done");
            goto unchanged;
        }
        fz_begin("cmodx_batch_commit(%u entries)", n);
        err = cmodx_batch_commit(bt, olds);
        fz_end("-> %d", err);
    }
    if (err == 0 && !may_succeed)
        fz_fail(K_BLOCK, "publish of %u entr%s returned 0; the model requires failure (entry "
                "slot %d: no heap for CMODX_RETIRE_OLD, or a policy alternative was disabled)",
                n, n == 1 ? "y" : "ies", ent[0].si);
    if (err == 0) {
        cmodx_reclaim_get_stats(s->d, &rs1);
        uint64_t before = s->retired;
        char what[400] = "";
        size_t wl = 0;
        for (unsigned k = 0; k < n; k++) {
            struct sc_block *ob = &s->blk[s->slot[ent[k].si].target];
            const void *want = entry_ptr(ob);
            if (olds[k].ptr != want)
                fz_fail(K_BLOCK, "publish reported old target %p for entry %u (slot %d); it "
                        "was %p", olds[k].ptr, k, ent[k].si, want);
            if (wl < sizeof what - 80)
                wl += (size_t)snprintf(what + wl, sizeof what - wl,
                                       "%s slot %d: old #%d%s%s%s, %s", k ? ";" : "", ent[k].si,
                                       s->slot[ent[k].si].target, ob->entry ? " (interior entry +64)" : "",
                                       ob->heap ? " (other heap)" : "",
                                       ob->refs > 1 ? " (shared with other slots)" : "",
                                       ent[k].flags ? "RETIRE_OLD" : "keep");
            apply_switch(s, ent[k].si, ent[k].nb, ent[k].e.on_success);
        }
        settle_doomed(s);
        inflight_end(s, n == 1 ? "cmodx_slot_publish" : "cmodx_batch_commit");
        uint64_t got = rs1.retired_blocks - rs0.retired_blocks, want = s->retired - before;
        int doomed_now = 0;
        for (int i = 0; i < s->nblk; i++)
            doomed_now += s->blk[i].doomed;
        if (got != want && !(got > want && doomed_now))
            fz_fail(K_BLOCK, "%s returned 0 and retired %llu block(s); the model expects %llu "
                    "(%s)", n == 1 ? "cmodx_slot_publish" : "cmodx_batch_commit",
                    (unsigned long long)got, (unsigned long long)want, what);
        call_slots(s);
        return;
    }
    inflight_end(s, n == 1 ? "a failed cmodx_slot_publish" : "a failed cmodx_batch_commit");
    if (err == ETIMEDOUT && timeout_ok)
        goto unchanged;
    if (may_fail && (err == EINVAL || err == EBUSY))
        goto unchanged;
    FZ_EXPECT(K_BLOCK, n == 1 ? "cmodx_slot_publish" : "cmodx_batch_commit", err, 0);
unchanged:
    for (int i = 0; i < SC_SLOTS; i++)
        if (s->slot[i].inited &&
            __atomic_load_n(&s->slot[i].s.target, __ATOMIC_RELAXED) != entry_ptr(&s->blk[s->slot[i].target]))
            fz_fail(K_BLOCK, "a failed publish (%d) changed slot %d", err, i);
}

static void step_retire(struct sc *s)
{
    if (!s->d)
        return;
    int err;
    unsigned k = fz_below(s->r, 6);
    if (k <= 2) {
        int bi = pick_block(s, is_unreachable_live);
        if (bi < 0 || s->heap_gone)
            return;
        struct sc_block *b = &s->blk[bi];
        fz_begin("cmodx_retire(#%d %p)", bi, b->b.exec.ptr);
        inflight_begin(s, bi);
        err = cmodx_retire(s->d, b->b.exec);
        fz_end("-> %d", err);
        if (err == 0 || err == ETIMEDOUT)
            retire_model(s, bi);
        inflight_end(s, "cmodx_retire");
        if (!s->has_heap) {
            FZ_EXPECT(K_ERRORS, "cmodx_retire on a domain without a heap", err, EINVAL);
            return;
        }
        if (err == ETIMEDOUT && other_thread_online(s)) {
            /* Back-pressure timed out; the block IS retired. */
        } else {
            FZ_EXPECT(K_BLOCK, "cmodx_retire of a live, unreachable block", err, 0);
        }
        if (!fz_no_misuse && (k == 0 || fz_chance(s->r, 30))) {
            int still = b->state == S_PENDING;
            fz_begin("cmodx_retire(#%d %p) again [%s]", bi, b->b.exec.ptr,
                     still ? "pending" : "freed");
            err = cmodx_retire(s->d, b->b.exec);
            fz_end("-> %d", err);
            FZ_EXPECT(K_BLOCK, still ? "a second cmodx_retire of a pending block"
                                     : "cmodx_retire of a freed block", err, EINVAL);
        }
        return;
    }
    if (k == 3) {
        int bi = pick_block(s, is_live);
        if (bi < 0 || s->blk[bi].b.size <= 64)
            return;
        fz_begin("cmodx_retire(#%d + 64) [interior address]", bi);
        err = cmodx_retire(s->d, (cmodx_xptr){(const char *)s->blk[bi].b.exec.ptr + 64});
        fz_end("-> %d", err);
        FZ_EXPECT(K_BLOCK, "cmodx_retire of an interior address", err, EINVAL);
        return;
    }
    if (k == 4) {
        int bi = pick_block(s, is_live);
        if (bi < 0 || s->blk[bi].heap != 1)
            return;
        fz_begin("cmodx_retire(#%d) [block of another heap]", bi);
        err = cmodx_retire(s->d, s->blk[bi].b.exec);
        fz_end("-> %d", err);
        FZ_EXPECT(K_BLOCK, "cmodx_retire of another heap's block", err, EINVAL);
        return;
    }
    fz_begin("cmodx_retire(NULL domain)");
    err = cmodx_retire(NULL, (cmodx_xptr){NULL});
    fz_end("-> %d", err);
    FZ_EXPECT(K_ERRORS, "cmodx_retire(NULL, ...)", err, EINVAL);
}

/* ---- the file size limit ---------------------------------------------------- */

/* RLIMIT_FSIZE lowered to the heap's file size: a block that needs a new
 * chunk fails with EFBIG (never SIGXFSZ, which would end the episode),
 * the heap unchanged, no SIGXFSZ left pending or blocked; a new heap whose
 * first chunk the limit cannot hold is refused (EFBIG).  The limit is the
 * process's: only in a scenario episode's own process, on its main
 * thread (a storm's workers, which run scenarios too, share theirs). */
static void step_fsize(struct sc *s)
{
    if ((pid_t)syscall(SYS_gettid) != getpid() || !s->h || s->heap_gone || s->h_limit)
        return;
    struct cmodx_heap_stats before, after;
    cmodx_heap_get_stats(s->h, &before);
    size_t want = before.free_bytes + 4096;
    if (!before.mapped_bytes || want > ((size_t)1 << 30))
        return;
    struct rlimit old, low;
    if (getrlimit(RLIMIT_FSIZE, &old) != 0)
        return;
    low = old;
    low.rlim_cur = before.mapped_bytes; /* the file as it is: no growth */
    if (setrlimit(RLIMIT_FSIZE, &low) != 0)
        return;
    cmodx_block b;
    fz_begin("cmodx_block_alloc(domain's heap, %zu) [RLIMIT_FSIZE %zu: no new chunk]", want,
             before.mapped_bytes);
    int err = cmodx_block_alloc(s->h, want, &b);
    fz_end("-> %d", err);
    cmodx_heap *nh = NULL;
    int cerr = 0;
    if (before.mapped_bytes < ((size_t)1 << 20)) {
        fz_begin("cmodx_heap_create(1 MiB chunks) [RLIMIT_FSIZE %zu]", before.mapped_bytes);
        cerr = cmodx_heap_create(NULL, &nh);
        fz_end("-> %d", cerr);
    }
    setrlimit(RLIMIT_FSIZE, &old);
    sigset_t pend, mask;
    sigpending(&pend);
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    FZ_EXPECT(K_BOUNDS, "cmodx_block_alloc past RLIMIT_FSIZE", err, EFBIG);
    if (before.mapped_bytes < ((size_t)1 << 20)) {
        FZ_EXPECT(K_BOUNDS, "cmodx_heap_create with a first chunk past RLIMIT_FSIZE", cerr,
                  EFBIG);
        if (nh)
            fz_fail(K_LIFETIME, "a failed cmodx_heap_create left *out set");
    }
    if (sigismember(&pend, SIGXFSZ) == 1)
        fz_fail(K_ERRORS, "a SIGXFSZ caused by the library's file growth was left pending");
    if (sigismember(&mask, SIGXFSZ) == 1)
        fz_fail(K_ERRORS, "the library left SIGXFSZ blocked");
    cmodx_heap_get_stats(s->h, &after);
    if (after.mapped_bytes != before.mapped_bytes || after.live_blocks != before.live_blocks)
        fz_fail(K_BLOCK, "a failed growth (EFBIG) changed the heap (mapped %zu -> %zu)",
                before.mapped_bytes, after.mapped_bytes);
}

/* ---- the other domain ------------------------------------------------------- */

/* One call of the other domain, or one of this domain's on a block the
 * other's slot targets.  Cross-domain: each domain counts its own slots,
 * and the library's index of targeted blocks refuses the rest. */
static void step_other(struct sc *s)
{
    int err;
    if (!s->has_heap || s->heap_gone || !s->d)
        return;
    if (!s->od) {
        struct cmodx_domain_config c = {.strategy = CMODX_SYNC_EPOCH, .heap = s->h};
        fz_begin("other: cmodx_domain_create(epoch, the same heap)");
        err = cmodx_domain_create(&c, &s->od);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_domain_create (a second domain on the heap)", err, 0);
        if (err)
            return;
        s->oslot_target = -1;
    }
    unsigned k = fz_below(s->r, 7);
    int ot = s->oslot_target;
    if (ot < 0 || k == 0) {
        int bi = pick_block(s, is_publishable);
        if (bi < 0 || ot >= 0)
            return;
        struct sc_block *b = &s->blk[bi];
        fz_begin("other: cmodx_slot_init(#%d%s)", bi, b->entry ? " +64" : "");
        err = cmodx_slot_init(s->od, &s->oslot, (cmodx_xptr){entry_ptr(b)});
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_slot_init of the other domain", err, 0);
        if (!err) {
            s->oslot_target = bi;
            b->orefs = 1;
            b->published = 1;
        }
        return;
    }
    struct sc_block *ob = &s->blk[ot];
    if (k == 1) {
        /* Switch away with CMODX_RETIRE_OLD from a block of the heap that
         * a slot of this domain still targets: the other domain's count
         * is 0, its retirement is refused, the block stays live. */
        int nb = pick_block(s, is_publishable);
        if (nb < 0 || nb == ot || ob->heap != 0 || !ob->refs)
            return;
        fz_begin("other: cmodx_slot_publish(#%d -> #%d, CMODX_RETIRE_OLD) [old shared with the "
                 "domain's slots]", ot, nb);
        err = cmodx_slot_publish(&s->oslot, (cmodx_xptr){entry_ptr(&s->blk[nb])},
                                 cmodx_emit_return_u32_size(), CMODX_RETIRE_OLD, NULL);
        fz_end("-> %d", err);
        FZ_EXPECT(K_BLOCK, "CMODX_RETIRE_OLD in the other domain", err, 0);
        if (err)
            return;
        ob->orefs = 0;
        s->blk[nb].orefs = 1;
        s->blk[nb].published = 1;
        s->oslot_target = nb;
        fz_begin("other: cmodx_synchronize");
        err = cmodx_synchronize(s->od, 0);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_synchronize of the other domain", err, 0);
        if (!cmodx_heap_contains(s->h, ob->b.exec, NULL))
            fz_fail(K_BLOCK, "block #%d was freed by the other domain's CMODX_RETIRE_OLD while "
                    "%d slot(s) of the domain still target it", ot, ob->refs);
        return;
    }
    if (k == 2) {
        int nb = pick_block(s, is_publishable);
        if (nb < 0)
            return;
        fz_begin("other: cmodx_slot_publish(#%d -> #%d)", ot, nb);
        err = cmodx_slot_publish(&s->oslot, (cmodx_xptr){entry_ptr(&s->blk[nb])},
                                 cmodx_emit_return_u32_size(), 0, NULL);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_slot_publish of the other domain", err, 0);
        if (!err) {
            ob->orefs = 0;
            s->blk[nb].orefs = 1;
            s->blk[nb].published = 1;
            s->oslot_target = nb;
        }
        return;
    }
    if (k == 3) {
        /* The other domain retires a block only this domain's slots
         * target: refused (EBUSY), nothing retired. */
        int bi = pick_block(s, is_own_targeted);
        if (bi < 0)
            return;
        fz_begin("other: cmodx_retire(#%d) [a slot of the domain targets it]", bi);
        err = cmodx_retire(s->od, s->blk[bi].b.exec);
        fz_end("-> %d", err);
        FZ_EXPECT(K_BLOCK, "cmodx_retire of a block another domain's slot targets", err, EBUSY);
        return;
    }
    if (k == 4 || k == 5) {
        /* This domain retires, or the owner frees, a block only the other
         * domain's slot targets: refused (EBUSY). */
        int bi = pick_block(s, is_other_targeted);
        if (bi < 0)
            return;
        struct sc_block *b = &s->blk[bi];
        if (k == 4) {
            fz_begin("cmodx_retire(#%d) [the other domain's slot targets it]", bi);
            inflight_begin(s, bi);
            err = cmodx_retire(s->d, b->b.exec);
            fz_end("-> %d", err);
            inflight_end(s, "cmodx_retire");
            FZ_EXPECT(K_BLOCK, "cmodx_retire of a block another domain's slot targets", err,
                      EBUSY);
        } else {
            fz_begin("cmodx_block_free(#%d) [the other domain's slot targets it]", bi);
            err = cmodx_block_free(s->h, b->b.exec);
            fz_end("-> %d", err);
            FZ_EXPECT(K_BLOCK, "cmodx_block_free of a block another domain's slot targets",
                      err, EBUSY);
        }
        return;
    }
    fz_begin("other: cmodx_slot_fini");
    cmodx_slot_fini(&s->oslot);
    fz_end("-> done");
    ob->orefs = 0;
    s->oslot_target = -1;
}

/* Before the domain's own teardown: the other domain and its slot go. */
static void other_teardown(struct sc *s)
{
    if (!s->od)
        return;
    if (s->oslot_target >= 0) {
        cmodx_slot_fini(&s->oslot);
        s->blk[s->oslot_target].orefs = 0;
        s->oslot_target = -1;
    }
    fz_begin("other: cmodx_domain_destroy");
    int err = cmodx_domain_destroy(s->od);
    fz_end("-> %d", err);
    FZ_EXPECT(K_LIFETIME, "cmodx_domain_destroy of the other domain", err, 0);
    s->od = NULL;
}

static void all_pending_freed(struct sc *s, const char *after)
{
    for (int i = 0; i < s->nblk; i++)
        if (s->blk[i].state == S_PENDING)
            fz_fail(K_BLOCK, "block #%d was retired but is still pending after %s", i, after);
}

static void step_sync(struct sc *s)
{
    if (!s->d)
        return;
    int err;
    unsigned k = fz_below(s->r, 4);
    if (k == 0) {
        uint64_t before = s->freed;
        fz_begin("cmodx_reclaim_poll");
        size_t n = cmodx_reclaim_poll(s->d);
        fz_end("-> %zu", n);
        if (n != s->freed - before)
            fz_fail(K_BLOCK, "cmodx_reclaim_poll returned %zu; %llu block(s) were freed", n,
                    (unsigned long long)(s->freed - before));
        return;
    }
    if (k == 1) {
        fz_begin("cmodx_sync_others");
        err = cmodx_sync_others(s->d);
        fz_end("-> %d", err);
        if (err == ETIMEDOUT && s->pin)
            return; /* the signal strategy's acknowledgement wait is bounded */
        FZ_EXPECT(K_ERRORS, "cmodx_sync_others", err, 0);
        return;
    }
    unsigned timeout = s->pin ? 1 + fz_below(s->r, 20) : (fz_chance(s->r, 50) ? 0 : 1000);
    fz_begin("cmodx_synchronize(%u ms)%s", timeout, s->pin ? " [pin online]" : "");
    err = cmodx_synchronize(s->d, timeout);
    fz_end("-> %d", err);
    if (s->pin) {
        FZ_EXPECT(K_BLOCK, "cmodx_synchronize while a thread is online and never quiescent",
                  err, ETIMEDOUT);
        char tid[32];
        snprintf(tid, sizeof tid, "%d", (int)s->pin->tid);
        if (!strstr(cmodx_last_error(), tid))
            fz_fail(K_ERRORS, "cmodx_synchronize timed out but its message does not name the "
                    "never-quiescent thread %s: \"%s\"", tid, cmodx_last_error());
        return;
    }
    FZ_EXPECT(K_BLOCK, "cmodx_synchronize with no other registered thread", err, 0);
    if (s->has_heap)
        all_pending_freed(s, "cmodx_synchronize");
}

static void step_thread(struct sc *s)
{
    if (!s->d)
        return;
    int err;
    switch (fz_below(s->r, 6)) {
    case 0: {
        cmodx_thread *t = NULL;
        fz_begin("cmodx_thread_register");
        err = cmodx_thread_register(s->d, &t);
        fz_end("-> %d", err);
        if (s->registered) {
            FZ_EXPECT(K_ERRORS, "a second cmodx_thread_register", err, EEXIST);
            if (t != s->self)
                fz_fail(K_ERRORS, "cmodx_thread_register EEXIST returned %p, not the existing "
                        "record %p", (void *)t, (void *)s->self);
        } else {
            FZ_EXPECT(K_ERRORS, "cmodx_thread_register", err, 0);
            s->self = t;
            s->registered = s->online = 1;
        }
        break;
    }
    case 1:
        fz_begin("cmodx_thread_unregister");
        err = cmodx_thread_unregister(s->d);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_thread_unregister", err, s->registered ? 0 : ENOENT);
        s->registered = s->online = 0;
        break;
    case 2:
        if (s->registered && s->online) {
            fz_begin("cmodx_thread_offline");
            cmodx_thread_offline(s->self);
            fz_end("-> done");
            s->online = 0;
        }
        break;
    case 3:
        if (s->registered && !s->online) {
            fz_begin("cmodx_thread_online");
            cmodx_thread_online(s->self);
            fz_end("-> done");
            s->online = 1;
        }
        break;
    case 4:
        if (fz_no_misuse)
            break;
        fz_begin("cmodx_thread_offline(NULL); cmodx_thread_online(NULL)");
        cmodx_thread_offline(NULL);
        cmodx_thread_online(NULL);
        fz_end("-> survived");
        break;
    default:
        if (s->registered && s->online) {
            fz_begin("cmodx_quiescent");
            cmodx_quiescent(s->self);
            fz_end("-> done");
        }
        break;
    }
}

static void step_pin(struct sc *s)
{
    if (!s->d)
        return;
    if (s->pin) {
        pin_leave(s);
        return;
    }
    /* Blocking the signal makes each publish wait for the whole
     * acknowledgement timeout: only with the short one. */
    int blocks = s->strategy == CMODX_SYNC_SIGNAL && s->short_signal_timeout &&
                 fz_chance(s->r, 50);
    pin_start(s, blocks);
    if (fz_chance(s->r, 50)) {
        fz_begin("cmodx_domain_destroy [pin %d still registered]", (int)s->pin->tid);
        int err = cmodx_domain_destroy(s->d);
        fz_end("-> %d", err);
        FZ_EXPECT(K_LIFETIME, "cmodx_domain_destroy while another thread is registered", err,
                  EBUSY);
    }
}

/* Bad configurations: every field checked, named errors, no overflow. */
static void step_bad_config(struct sc *s)
{
    int err;
    switch (fz_below(s->r, 6)) {
    case 0: {
        size_t chunk = fz_chance(s->r, 50) ? (size_t)256 << 30 : SIZE_MAX - 4095;
        if (sizeof(size_t) < 8)
            chunk = SIZE_MAX - 4095;
        struct cmodx_heap_config hc = {.chunk_bytes = chunk};
        cmodx_heap *h = NULL;
        fz_begin("cmodx_heap_create(chunk_bytes %zu)", chunk);
        err = cmodx_heap_create(&hc, &h);
        fz_end("-> %d", err);
        FZ_EXPECT(K_BOUNDS, "cmodx_heap_create with an absurd chunk_bytes", err, 0, EINVAL,
                  ENOMEM);
        if (!err) {
            cmodx_block b;
            fz_begin("cmodx_block_alloc(64) on that heap");
            err = cmodx_block_alloc(h, 64, &b);
            fz_end("-> %d", err);
            FZ_EXPECT(K_BOUNDS, "cmodx_block_alloc on a heap with an absurd chunk_bytes", err, 0,
                      EINVAL, ENOMEM);
            if (!err) {
                if (fz_write_code(&b, 0, 7) || !fz_code_intact(&b, 0, 7))
                    fz_fail(K_BOUNDS, "block from a 256 GiB-chunk heap is not writable");
                struct cmodx_heap_stats st;
                cmodx_heap_get_stats(h, &st);
                if (st.live_blocks != 1)
                    fz_fail(K_BOUNDS, "heap with an absurd chunk_bytes counts %zu live blocks "
                            "after one allocation", st.live_blocks);
            }
            cmodx_heap_destroy(h);
        }
        break;
    }
    case 1: {
        struct cmodx_heap_config hc = {.flags = 0x80};
        cmodx_heap *h;
        fz_begin("cmodx_heap_create(flags 0x80)");
        err = cmodx_heap_create(&hc, &h);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_heap_create with unknown flags", err, EINVAL);
        fz_begin("cmodx_heap_create(NULL, NULL)");
        err = cmodx_heap_create(NULL, NULL);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_heap_create with NULL out", err, EINVAL);
        break;
    }
    case 2: {
        static const int fault_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGTRAP, SIGILL};
        int sig = fault_sigs[fz_below(s->r, 5)];
        struct cmodx_domain_config c = {.strategy = CMODX_SYNC_SIGNAL, .signal_number = sig};
        cmodx_domain *d;
        fz_begin("cmodx_domain_create(signal strategy, signal %d = %s)", sig, strsignal(sig));
        err = cmodx_domain_create(&c, &d);
        fz_end("-> %d", err);
        if (!err)
            fz_fail(K_SIGNAL, "cmodx_domain_create accepted the synchronous fault signal %d "
                    "(%s) as the sync signal: a call into trap-filled code would be handled "
                    "instead of faulting", sig, strsignal(sig));
        FZ_EXPECT(K_SIGNAL, "cmodx_domain_create with a fault signal", err, EINVAL, EBUSY);
        break;
    }
    case 3: {
        struct cmodx_domain_config c = {.strategy = (enum cmodx_strategy)77};
        cmodx_domain *d;
        fz_begin("cmodx_domain_create(strategy 77)");
        err = cmodx_domain_create(&c, &d);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_domain_create with an unknown strategy", err, EINVAL);
        c.strategy = CMODX_SYNC_EPOCH;
        c.flags = 0x100;
        fz_begin("cmodx_domain_create(flags 0x100)");
        err = cmodx_domain_create(&c, &d);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_domain_create with unknown flags", err, EINVAL);
        fz_begin("cmodx_domain_create(NULL, NULL)");
        err = cmodx_domain_create(NULL, NULL);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_domain_create with NULL out", err, EINVAL);
        break;
    }
    case 4: {
        if (s->strategy != CMODX_SYNC_TRAMPOLINE)
            break;
        struct cmodx_domain_config c = {.strategy = CMODX_SYNC_TRAMPOLINE,
                                        .max_trampoline_slots = UINT32_MAX};
        cmodx_domain *d;
        fz_begin("cmodx_domain_create(trampoline, max_trampoline_slots UINT32_MAX)");
        err = cmodx_domain_create(&c, &d);
        fz_end("-> %d", err);
        if (!err) {
            cmodx_domain_destroy(d);
            fz_fail(K_BOUNDS, "cmodx_domain_create accepted max_trampoline_slots = UINT32_MAX "
                    "(its stubs alone would need tens of GiB; the rounding to pages wraps)");
        }
        FZ_EXPECT(K_BOUNDS, "cmodx_domain_create with max_trampoline_slots UINT32_MAX", err,
                  EINVAL, ENOMEM);
        break;
    }
    default: {
        if (s->strategy != CMODX_SYNC_TRAMPOLINE)
            break;
        /* Exhaust the trampoline ids of a fresh domain: the failing init
         * must leave its slot unusable. */
        struct cmodx_domain_config c = {.strategy = CMODX_SYNC_TRAMPOLINE,
                                        .max_trampoline_slots = 1};
        cmodx_domain *d;
        err = cmodx_domain_create(&c, &d);
        FZ_EXPECT(K_ERRORS, "cmodx_domain_create(trampoline, 1 slot)", err, 0);
        int fb = pick_block(s, is_publishable);
        if (fb < 0) {
            cmodx_domain_destroy(d);
            break;
        }
        const void *code = entry_ptr(&s->blk[fb]);
        size_t cap = CMODX_TRAMPOLINE_PAGE + 1;
        cmodx_slot *sl = calloc(cap, sizeof *sl);
        size_t ok = 0;
        fz_begin("cmodx_slot_init until the trampoline ids run out");
        while (ok < cap && (err = cmodx_slot_init(d, &sl[ok], (cmodx_xptr){code})) == 0)
            ok++;
        fz_end("-> %zu slots, then %d", ok, err);
        if (ok == cap)
            fz_fail(K_BOUNDS, "a trampoline domain with max_trampoline_slots 1 accepted %zu "
                    "slots", ok);
        FZ_EXPECT(K_ERRORS, "cmodx_slot_init past the trampoline capacity", err, ENOMEM);
        fz_begin("cmodx_slot_publish into the slot whose init failed");
        err = cmodx_slot_publish(&sl[ok], (cmodx_xptr){code}, cmodx_emit_return_u32_size(), 0,
                                 NULL);
        fz_end("-> %d", err);
        FZ_EXPECT(K_LIFETIME, "cmodx_slot_publish into a slot whose init failed (ENOMEM)", err,
                  EINVAL);
        for (size_t i = 0; i < ok; i++)
            cmodx_slot_fini(&sl[i]);
        free(sl);
        err = cmodx_domain_destroy(d);
        FZ_EXPECT(K_ERRORS, "cmodx_domain_destroy", err, 0);
        break;
    }
    }
}

/* cmodx_heap_destroy returns void today; issue 12 asks that destroying a
 * heap a domain still frees into is refused (EBUSY).  Both shapes compile
 * here: -1 stands for "void, nothing reported". */
#define HEAP_DESTROY_RETURNS_INT                                                   \
    (!__builtin_types_compatible_p(__typeof__(cmodx_heap_destroy(NULL)), void))

int fz_heap_destroy(cmodx_heap *h)
{
    if (HEAP_DESTROY_RETURNS_INT) {
        /* Only reached when the function really returns int. */
        int (*f)(cmodx_heap *) = (int (*)(cmodx_heap *))(void (*)(void))cmodx_heap_destroy;
        return f(h);
    }
    cmodx_heap_destroy(h);
    return -1;
}

/* Tear everything down in a random order, checking each step. */
static void teardown(struct sc *s)
{
    int err;
    other_teardown(s);
    if (s->pin)
        pin_leave(s);
    if (s->d && s->has_heap && !fz_no_misuse && fz_chance(s->r, 20)) {
        fz_begin("cmodx_heap_destroy(domain's heap) [the domain still frees into it]");
        int rc = fz_heap_destroy(s->h);
        fz_end("-> %d", rc);
        if (rc == -1) {
            /* void API: the heap is gone; the domain must cope. */
            s->heap_gone = 1;
            s->h = NULL;
        } else {
            FZ_EXPECT(K_LIFETIME, "cmodx_heap_destroy of a heap a domain uses", rc, EBUSY);
        }
    }
    /* Destroy first while slots are initialised (30 %): refused (EBUSY,
     * issue 12 kind 8), and the domain stays usable: its slots still call
     * their targets, a publish still works. */
    int live = 0;
    for (int i = 0; i < SC_SLOTS; i++)
        live += s->slot[i].inited != 0;
    if (s->d && live && !fz_chance(s->r, 70)) {
        fz_begin("cmodx_domain_destroy [%d slot(s) still initialised]", live);
        err = cmodx_domain_destroy(s->d);
        fz_end("-> %d", err);
        FZ_EXPECT(K_LIFETIME, "cmodx_domain_destroy while slots of the domain are initialised",
                  err, EBUSY);
        if (err == 0) {
            s->d = NULL; /* the slots now name a freed domain: stop here */
            s->registered = s->online = 0;
            for (int i = 0; i < SC_SLOTS; i++)
                s->slot[i].inited = 0;
        } else {
            check_all(s);
            call_slots(s);
        }
    }
    for (int i = 0; i < SC_SLOTS; i++)
        if (s->slot[i].inited) {
            int bi = s->slot[i].target;
            fz_begin("cmodx_slot_fini(slot %d)%s", i,
                     s->blk[bi].doomed ? " [last slot of a doomed block?]" : "");
            inflight_begin(s, bi);
            cmodx_slot_fini(&s->slot[i].s);
            fz_end("-> done");
            s->slot[i].inited = 0;
            s->blk[bi].refs--;
            /* The library's rule: the last slot leaving a block that
             * CMODX_RETIRE_OLD left retires it, cmodx_slot_fini too. */
            settle_doomed(s);
            inflight_end(s, "cmodx_slot_fini");
        }
    if (s->d) {
        fz_begin("cmodx_domain_destroy%s", s->heap_gone ? " [its heap was destroyed first]" : "");
        err = cmodx_domain_destroy(s->d);
        fz_end("-> %d", err);
        FZ_EXPECT(K_LIFETIME, "cmodx_domain_destroy", err, 0);
        s->d = NULL;
        s->registered = s->online = 0;
        if (!s->heap_gone)
            for (int i = 0; i < s->nblk; i++) {
                struct sc_block *b = &s->blk[i];
                if (b->state == S_PENDING)
                    fz_fail(K_LIFETIME, "block #%d was retired but cmodx_domain_destroy (no "
                            "other thread registered) did not free it%s", i,
                            b->entry ? " (it was replaced through an interior entry point +64: "
                                       "did CMODX_RETIRE_OLD retire it at all?)" : "");
                /* A block retired while shared is freed by now, or left to
                 * us: the model accepts both. */
                if (b->state == S_LIVE && b->doomed && b->heap == 0)
                    b->state = cmodx_heap_contains(s->h, b->b.exec, NULL) ? S_LIVE : S_FREED;
            }
    }
    pins_release_parked(s);
    for (int i = 0; i < s->nblk; i++)
        s->blk[i].refs = 0;
    check_all(s);
    if (s->h) {
        err = fz_heap_destroy(s->h);
        if (err != -1)
            FZ_EXPECT(K_LIFETIME, "cmodx_heap_destroy", err, 0);
    }
    fz_heap_destroy(s->fh);
}

/* The lifecycle edges that need threads of their own (lifecycle.c): only
 * in a scenario episode's own process, on its main thread (not in a storm
 * worker's side scenario: the helper threads' trace entries are the
 * storm's victims'; not in libFuzzer's process, which must not fork).
 * They use heaps and domains of their own; the model's state is
 * untouched. */
static void step_lifecycle(struct fz_rng *lr, unsigned which)
{
    switch (which % 3) {
    case 0:
        fz_step_trampid(lr);
        break;
    case 1:
        fz_step_cancel(lr, which / 3);
        break;
    default:
        fz_step_forksig(lr);
        break;
    }
}

void fz_scenario(struct fz_rng *r, enum cmodx_strategy strategy, unsigned steps, int with_pin)
{
    struct sc *s = calloc(1, sizeof *s);
    s->r = r;
    s->strategy = strategy;
    struct cmodx_heap_config hc = {0};
    static const size_t limits[] = {0, 0, 64 << 10, 16 << 10};
    s->h_limit = hc.limit_bytes = limits[fz_below(r, 4)];
    hc.chunk_bytes = fz_chance(r, 50) ? 0 : 4096;
    fz_begin("scenario: cmodx_heap_create(chunk %zu, limit %zu) x2", hc.chunk_bytes,
             hc.limit_bytes);
    int err = cmodx_heap_create(&hc, &s->h);
    if (!err)
        err = cmodx_heap_create(NULL, &s->fh);
    fz_end("-> %d", err);
    FZ_EXPECT(K_ERRORS, "cmodx_heap_create", err, 0);
    s->has_heap = fz_chance(r, 92);
    struct cmodx_domain_config c = {
        .strategy = strategy,
        .signal_number = fz_sync_signal(),
        .signal_timeout_ms = fz_chance(r, 50) ? 30 : 0,
        .heap = s->has_heap ? s->h : NULL,
        .retired_limit_bytes = fz_chance(r, 30) ? 1024 : 0,
        .grace_timeout_ms = 30,
        .flags = fz_chance(r, 25) ? CMODX_DOMAIN_SYMMETRIC_FENCES : 0,
    };
    s->short_signal_timeout = c.signal_timeout_ms != 0;
    fz_begin("scenario: cmodx_domain_create(%s, heap %s, retired limit %zu, flags %#x)",
             cmodx_strategy_name(strategy), s->has_heap ? "yes" : "no", c.retired_limit_bytes,
             c.flags);
    err = cmodx_domain_create(&c, &s->d);
    fz_end("-> %d", err);
    FZ_EXPECT(K_ERRORS, "cmodx_domain_create", err, 0);
    if (cmodx_domain_strategy(s->d) != strategy)
        fz_fail(K_ERRORS, "cmodx_domain_create(%s) gave a domain using %s",
                cmodx_strategy_name(strategy), cmodx_strategy_name(cmodx_domain_strategy(s->d)));
    cmodx_debug_set_free_hook(s->d, free_hook, s);
    if (fz_chance(r, 70)) {
        err = cmodx_thread_register(s->d, &s->self);
        FZ_EXPECT(K_ERRORS, "cmodx_thread_register", err, 0);
        s->registered = s->online = 1;
    }
    for (int i = 0; i < 3; i++)
        new_block(s, 0);
    check_all(s);
    /* One lifecycle step per episode, at a random step, drawn from a
     * stream of its own: the scenario's own sequence for a seed is the same
     * with or without it (the mutants' probes keep their seeds).  Which one
     * rotates with the episode number (trampoline ids, cancellation,
     * fork; the cancelled call rotates every third episode), so that a
     * short fixed-time run has each. */
    struct fz_rng lr = {.s = fz_mix(r->s ^ 0x6c69666563796331ull)};
    unsigned lc_at = UINT_MAX;
    if (with_pin && !fz_libfuzzer && fz_sh && (pid_t)syscall(SYS_gettid) == getpid())
        lc_at = fz_below(&lr, steps);
    for (s->step = 0; s->step < steps && !fz_exhausted(r); s->step++) {
        if (s->step == lc_at) {
            step_lifecycle(&lr, fz_sh->episode);
            check_all(s);
        }
        unsigned op = fz_below(r, 100);
        if (op < 12)
            step_alloc(s);
        else if (op < 17)
            step_write(s);
        else if (op < 24)
            step_free(s);
        else if (op < 34)
            step_slot_init(s);
        else if (op < 38)
            step_slot_fini(s);
        else if (op < 56)
            step_publish(s, 1);
        else if (op < 63)
            step_publish(s, 2 + fz_below(r, 3));
        else if (op < 73)
            step_retire(s);
        else if (op < 81)
            step_sync(s);
        else if (op < 88)
            step_thread(s);
        else if (op < 91)
            step_pin(s);
        else if (op < 95)
            call_slots(s);
        else if (op < 97 && with_pin && !fz_no_misuse)
            step_bad_config(s);
        else if (op >= 98)
            step_other(s);
        else if (op == 97 && fz_chance(r, 20))
            step_fsize(s);
        else
            step_alloc(s);
        check_all(s);
    }
    teardown(s);
    free(s);
}
