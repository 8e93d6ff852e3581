/*
 * tools/fuzz/storm.c - the multi-threaded engine.
 *
 * One domain of the strategy under test, one heap, and W worker threads.
 * Each worker owns two private slots (only it publishes them, so it knows
 * their exact target) and some of the shared slots, which every worker
 * calls.  The shared slots start on one shared "lazy stub" block, and one
 * on an interior entry point, as a JIT's would.  Workers publish, batch,
 * retire, synchronize (with and without timeouts), poll, read statistics,
 * go offline and online, re-register, fork (the child checks its slots and
 * keeps working), cancel a helper thread inside library calls, and run
 * scenarios (scenario.c) on domains of their own meanwhile.
 *
 * Checked after every step, whatever the interleaving: each call's errno
 * (against the model's alternatives), the exact identity returned by a
 * worker's private slots and the right slot's identity from shared ones,
 * that the free hook only sees retired blocks no slot targets, that a
 * synchronize frees what its caller retired before it, and no W+X mapping.
 * At checkpoints (every worker parked offline) and at the end: exact heap
 * and reclamation accounting, every slot's target, every live block's
 * bytes.  A call that does not return is reported by the supervisor's
 * watchdog (main.c).
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAXW 8
#define PRIV 2                      /* private slots per worker */
#define NSHARED 4                   /* shared slots */
#define NSLOTS (MAXW * PRIV + NSHARED + MAXW) /* + one victim slot per worker */
#define MAXB (1 << 14)
#define IDENT_BASE 0x3a000000u
#define MAP_SIZE (1 << 15)

enum { S_LIVE = 1, S_PENDING, S_FREED };

struct blk {
    cmodx_block b;
    size_t entry;
    int state;
    int refs;
    int doomed;
    int for_slot;    /* the slot it was written for; -1 = any shared slot */
    int owner;       /* worker that must retire it once unreachable, -1 none */
    int inflight;    /* a call under way may retire it */
    int freed_inflight;
    uint64_t retired_seq; /* retire order, for "synchronize frees what I retired" */
};

struct slot {
    cmodx_slot s;
    int inited;
    int owner;   /* the worker that publishes it */
    int target;  /* block index */
};

struct worker {
    struct storm *st;
    int idx;
    pthread_t th;
    struct fz_rng r;
    cmodx_thread *self;
    int registered, online;
    int exit_mode;      /* 0 unregister, 1 just return, 2 linger registered */
    int done;           /* atomic: left its loop */
    int linger_release; /* atomic */
    int unretired[64];  /* blocks this worker must retire */
    int nunretired;
    int forks;
};

struct storm {
    const struct fz_options *o;
    enum cmodx_strategy strategy;
    cmodx_heap *h;
    cmodx_domain *d;
    size_t heap_limit;
    int short_signal_timeout;
    pthread_mutex_t m;   /* the model; never held across a waiting call */
    pthread_mutex_t shared_pub; /* serialises publishes of shared slots (taken offline) */
    struct blk *blk;
    int nblk;
    int map[MAP_SIZE];   /* exec address -> block index + 1 (open addressing) */
    struct slot slot[NSLOTS];
    uint64_t retired, freed, retire_seq;
    struct worker w[MAXW];
    unsigned nw;
    int stop;            /* atomic */
    int pause;           /* atomic: checkpoint requested */
    int parked;          /* atomic */
    int blocker;         /* atomic: a registered thread blocks the sync signal */
    int in_fork_child;
};

static struct storm *g_storm; /* for the free hook in a fork child */

static uint32_t ident_of(int i)
{
    return IDENT_BASE + (uint32_t)i;
}
static const void *entry_ptr(const struct blk *b)
{
    return (const char *)b->b.exec.ptr + b->entry;
}
static int priv_slot(int w, int k)
{
    return w * PRIV + k;
}
static int shared_slot(int k)
{
    return MAXW * PRIV + k;
}
static int victim_slot(int w)
{
    return MAXW * PRIV + NSHARED + w;
}

/* ---- address map (under m) -------------------------------------------------- */

static unsigned hash_ptr(const void *p)
{
    return (unsigned)(fz_mix((uintptr_t)p) & (MAP_SIZE - 1));
}
static void map_put(struct storm *st, int bi)
{
    unsigned h = hash_ptr(st->blk[bi].b.exec.ptr);
    while (st->map[h] > 0)
        h = (h + 1) & (MAP_SIZE - 1);
    st->map[h] = bi + 1;
}
static int map_find(struct storm *st, const void *p, int del)
{
    unsigned h = hash_ptr(p);
    for (int n = 0; n < MAP_SIZE && st->map[h]; n++, h = (h + 1) & (MAP_SIZE - 1)) {
        int v = st->map[h];
        if (v > 0 && st->blk[v - 1].b.exec.ptr == p) {
            if (del)
                st->map[h] = -1; /* tombstone */
            return v - 1;
        }
    }
    return -1;
}

/* ---- model helpers -------------------------------------------------------------- */

/* A fork child has one thread and may have been forked while another
 * held the model lock: it reads the model without it. */
static void lock(struct storm *st)
{
    if (!st->in_fork_child)
        pthread_mutex_lock(&st->m);
}
static void unlock(struct storm *st)
{
    if (!st->in_fork_child)
        pthread_mutex_unlock(&st->m);
}

static void free_hook(void *arg, cmodx_xptr x)
{
    struct storm *st = arg;
    if (st->in_fork_child)
        return; /* the model lock may have been held at fork */
    lock(st);
    int bi = map_find(st, x.ptr, 0);
    if (bi < 0) {
        int again = -1;
        for (int i = 0; i < st->nblk && again < 0; i++)
            if (st->blk[i].b.exec.ptr == x.ptr && st->blk[i].state == S_FREED)
                again = i;
        unlock(st);
        if (again >= 0)
            fz_fail(K_BLOCK, "the library frees block #%d (%p) a second time: it was retired "
                    "twice (two CMODX_RETIRE_OLD publishes left it, or a second retirement of "
                    "a pending block was accepted)", again, x.ptr);
        fz_fail(K_BLOCK, "the library frees %p, which is not the start of any block the "
                "model knows", x.ptr);
    }
    struct blk *b = &st->blk[bi];
    if (b->state == S_LIVE && b->inflight) {
        b->freed_inflight = 1;
    } else if (b->state == S_LIVE && b->doomed && b->refs == 0) {
        /* Retired while shared; its last slot was finished: accepted. */
        b->doomed = 0;
        st->retired++;
    } else if (b->state == S_LIVE && b->doomed) {
        int refs = b->refs;
        unlock(st);
        fz_fail(K_BLOCK, "the library frees block #%d (%p) while %d slot(s) still target it: "
                "an earlier CMODX_RETIRE_OLD retired it although another slot shared it", bi,
                x.ptr, refs);
    } else if (b->state != S_PENDING) {
        int refs = b->refs;
        unlock(st);
        fz_fail(K_BLOCK, "the library frees block #%d (%p), which is live and was never "
                "retired (%d slot(s) target it): a second retire, or a retire of the wrong "
                "block, freed someone else's code", bi, x.ptr, refs);
    } else if (b->refs) {
        int refs = b->refs;
        unlock(st);
        fz_fail(K_BLOCK, "the library frees block #%d while %d slot(s) still target it", bi,
                refs);
    }
    b->state = S_FREED;
    map_find(st, x.ptr, 1);
    st->freed++;
    unlock(st);
}

/* Under m: model of a retirement by the library. */
static void retired_locked(struct storm *st, int bi)
{
    struct blk *b = &st->blk[bi];
    st->retired++;
    b->doomed = 0;
    b->retired_seq = ++st->retire_seq;
    if (b->freed_inflight) {
        b->freed_inflight = 0;
        return;
    }
    b->state = S_PENDING;
}

static int new_block(struct worker *w, int for_slot)
{
    struct storm *st = w->st;
    static const size_t sizes[] = {16, 64, 100, 200, 400};
    size_t req = sizes[fz_below(&w->r, 5)];
    cmodx_block b;
    fz_begin("cmodx_block_alloc(%zu) for slot %d", req, for_slot);
    int err = cmodx_block_alloc(st->h, req, &b);
    fz_end("-> %d %p", err, err ? NULL : b.exec.ptr);
    if (err == ENOMEM && st->heap_limit)
        return -1;
    FZ_EXPECT(K_ERRORS, "cmodx_block_alloc", err, 0);
    lock(st);
    if (st->nblk == MAXB) {
        unlock(st);
        cmodx_block_free(st->h, b.exec);
        return -1;
    }
    int bi = st->nblk++;
    struct blk *nb = &st->blk[bi];
    memset(nb, 0, sizeof *nb);
    nb->b = b;
    nb->state = S_LIVE;
    nb->for_slot = for_slot;
    nb->owner = w->idx;
    nb->entry = (b.size >= 64 + cmodx_emit_return_u32_size() && fz_chance(&w->r, 25)) ? 64 : 0;
    map_put(st, bi);
    unlock(st);
    err = fz_write_code(&b, nb->entry, ident_of(bi));
    FZ_EXPECT(K_ERRORS, "cmodx_block_write", err, 0);
    return bi;
}

/* A block that was never reachable: free it directly. */
static void free_unpublished(struct worker *w, int bi)
{
    struct storm *st = w->st;
    lock(st);
    struct blk *b = &st->blk[bi];
    cmodx_xptr x = b->b.exec;
    b->state = S_FREED;
    map_find(st, x.ptr, 1);
    unlock(st);
    fz_begin("cmodx_block_free(#%d) [never published]", bi);
    int err = cmodx_block_free(st->h, x);
    fz_end("-> %d", err);
    FZ_EXPECT(K_BLOCK, "cmodx_block_free of a never-published block", err, 0);
}

static void go_offline(struct worker *w)
{
    if (w->registered && w->online)
        cmodx_thread_offline(w->self);
}
static void go_online(struct worker *w)
{
    if (w->registered && w->online)
        cmodx_thread_online(w->self);
}

/* ---- checks ---------------------------------------------------------------------- */

static void check_call(struct worker *w, int si)
{
    struct storm *st = w->st;
    if (!w->registered || !w->online)
        return;
    lock(st);
    int inited = st->slot[si].inited, exact = st->slot[si].owner == w->idx;
    int want = st->slot[si].target;
    unlock(st);
    if (!inited)
        return;
    fz_begin("call slot %d%s", si, exact ? " (own)" : "");
    uint32_t v = fz_call(cmodx_slot_target(&st->slot[si].s, w->self));
    fz_end("-> %#x", v);
    int bi = (int)(v - IDENT_BASE);
    if (v < IDENT_BASE || bi >= MAXB)
        fz_fail(K_BLOCK, "slot %d returned %#x, which is no block's identity", si, v);
    if (exact && bi != want)
        fz_fail(K_BLOCK, "own slot %d returned block #%d; its last publish installed #%d", si,
                bi, want);
    lock(st);
    int fs = bi < st->nblk ? st->blk[bi].for_slot : -2;
    unlock(st);
    if (fs != si && !(fs == -1 && si >= shared_slot(0) && si < shared_slot(NSHARED)))
        fz_fail(K_BLOCK, "slot %d returned block #%d, which was written for slot %d: code "
                "reached through a slot belongs to another slot (reused while running?)", si,
                bi, fs);
}

static void check_no_wx_sometimes(struct worker *w)
{
    if (fz_chance(&w->r, 25))
        fz_check_no_wx();
}

/* ---- publishing ------------------------------------------------------------------ */

struct pexp {
    int may_succeed, may_fail, action; /* 0 keep, 1 retire, 2 doom */
};

static struct pexp expect_locked(struct storm *st, int old, int nb, unsigned flags)
{
    struct pexp e = {1, 0, 0};
    struct blk *ob = &st->blk[old];
    if (old == nb || !(flags & CMODX_RETIRE_OLD))
        return e;
    if (ob->refs > 1) {
        e.may_succeed = FZ_POLICY_SHARED_REFCOUNT;
        e.may_fail = FZ_POLICY_SHARED_FAIL;
        e.action = 2;
    } else if (ob->entry) {
        e.may_succeed = FZ_POLICY_INTERIOR_RETIRE;
        e.may_fail = FZ_POLICY_INTERIOR_FAIL;
        e.action = 1;
    } else {
        e.action = 1;
    }
    return e;
}

/* Under m: slot SI switched from its target to NB. */
static void switched_locked(struct worker *w, int si, int nb, int action)
{
    struct storm *st = w->st;
    int old = st->slot[si].target;
    struct blk *ob = &st->blk[old];
    ob->refs--;
    st->blk[nb].refs++;
    st->slot[si].target = nb;
    if (old == nb)
        return;
    if (action == 1 && (ob->state == S_LIVE || ob->freed_inflight))
        retired_locked(st, old);
    else if (action == 2)
        ob->doomed = 1;
    if ((ob->state == S_LIVE || ob->freed_inflight) && ob->refs == 0) {
        if (ob->doomed)
            retired_locked(st, old);
        else if (w->nunretired < 64)
            w->unretired[w->nunretired++] = old; /* ours to retire now */
    }
}

static void inflight_end_locked(struct storm *st, const int *olds, int n, const char *call)
{
    for (int k = 0; k < n; k++) {
        struct blk *b = &st->blk[olds[k]];
        b->inflight = 0;
        if (b->freed_inflight) {
            int refs = b->refs;
            unlock(st);
            fz_fail(K_BLOCK, "%s freed block #%d during the call although %s", call, olds[k],
                    refs ? "another slot still targets it (shared target)"
                         : "the model says it must not retire it");
        }
    }
}

static void publish(struct worker *w, int si)
{
    struct storm *st = w->st;
    int shared = si >= shared_slot(0) && si < shared_slot(NSHARED);
    int nb = new_block(w, shared ? si : si);
    if (nb < 0)
        return;
    if (shared) {
        /* Shared slots share blocks: publish them one at a time so that the
         * model's reference counts are the library's.  Wait offline. */
        go_offline(w);
        pthread_mutex_lock(&st->shared_pub);
        go_online(w);
    }
    unsigned flags = fz_chance(&w->r, 75) ? CMODX_RETIRE_OLD : 0;
    lock(st);
    int old = st->slot[si].target;
    struct pexp e = expect_locked(st, old, nb, flags);
    st->blk[old].inflight = 1;
    const void *oldp = entry_ptr(&st->blk[old]);
    const void *code = entry_ptr(&st->blk[nb]);
    int interior = st->blk[old].entry != 0, refs = st->blk[old].refs;
    unlock(st);
    cmodx_xptr rep = {NULL};
    fz_begin("cmodx_slot_publish(slot %d: #%d%s%s -> #%d, %s)", si, old,
             interior ? " (interior)" : "", refs > 1 ? " (shared)" : "", nb,
             flags ? "RETIRE_OLD" : "keep old");
    int err = cmodx_slot_publish(&st->slot[si].s, (cmodx_xptr){code},
                                 cmodx_emit_return_u32_size(), flags, &rep);
    fz_end("-> %d", err);
    lock(st);
    if (err == 0) {
        if (!e.may_succeed) {
            unlock(st);
            fz_fail(K_BLOCK, "cmodx_slot_publish returned 0; the model requires failure");
        }
        if (rep.ptr != oldp) {
            unlock(st);
            fz_fail(K_BLOCK, "cmodx_slot_publish reported old target %p; it was %p", rep.ptr,
                    oldp);
        }
        switched_locked(w, si, nb, e.action);
        inflight_end_locked(st, &old, 1, "cmodx_slot_publish");
        unlock(st);
    } else {
        inflight_end_locked(st, &old, 1, "a failed cmodx_slot_publish");
        unlock(st);
        if (!(err == ETIMEDOUT || (e.may_fail && (err == EINVAL || err == EBUSY))))
            FZ_EXPECT(K_BLOCK, "cmodx_slot_publish", err, 0);
        if (__atomic_load_n(&st->slot[si].s.target, __ATOMIC_RELAXED) != oldp)
            fz_fail(K_BLOCK, "a failed cmodx_slot_publish (%d) changed slot %d", err, si);
        free_unpublished(w, nb);
    }
    if (shared) {
        go_offline(w);
        pthread_mutex_unlock(&st->shared_pub);
        go_online(w);
    }
    check_call(w, si);
}

static void batch(struct worker *w)
{
    struct storm *st = w->st;
    int n = 2 + (int)fz_below(&w->r, 2), si[3], nb[3], old[3];
    unsigned flags[3];
    struct pexp e[3];
    for (int k = 0; k < n; k++) {
        si[k] = priv_slot(w->idx, (int)fz_below(&w->r, PRIV));
        nb[k] = new_block(w, si[k]);
        if (nb[k] < 0) {
            for (int j = 0; j < k; j++)
                free_unpublished(w, nb[j]);
            return;
        }
        flags[k] = fz_chance(&w->r, 75) ? CMODX_RETIRE_OLD : 0;
    }
    cmodx_batch *b;
    int err = cmodx_batch_begin(st->d, &b);
    FZ_EXPECT(K_ERRORS, "cmodx_batch_begin", err, 0);
    int may_succeed = 1, may_fail = 0;
    lock(st);
    int tgt[PRIV * MAXW + 1];
    for (int k = 0; k < n; k++)
        tgt[k] = -1;
    /* Entries apply in order: a slot added twice sees its first new block
     * as the second entry's old target. */
    for (int k = 0; k < n; k++) {
        int cur = st->slot[si[k]].target;
        for (int j = 0; j < k; j++)
            if (si[j] == si[k])
                cur = nb[j];
        old[k] = cur;
        e[k] = expect_locked(st, cur, nb[k], flags[k]);
        may_succeed &= e[k].may_succeed;
        may_fail |= e[k].may_fail;
        st->blk[cur].inflight = 1;
    }
    unlock(st);
    for (int k = 0; k < n; k++) {
        fz_begin("cmodx_batch_add(slot %d: #%d%s -> #%d, %s)", si[k], old[k],
                 st->blk[old[k]].entry ? " (interior)" : "", nb[k],
                 flags[k] ? "RETIRE_OLD" : "keep old");
        err = cmodx_batch_add(b, &st->slot[si[k]].s, (cmodx_xptr){entry_ptr(&st->blk[nb[k]])},
                              cmodx_emit_return_u32_size(), flags[k]);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_batch_add", err, 0);
    }
    cmodx_xptr olds[3];
    fz_begin("cmodx_batch_commit(%d entries)", n);
    err = cmodx_batch_commit(b, olds);
    fz_end("-> %d", err);
    lock(st);
    if (err == 0) {
        if (!may_succeed) {
            unlock(st);
            fz_fail(K_BLOCK, "cmodx_batch_commit returned 0; the model requires failure");
        }
        for (int k = 0; k < n; k++) {
            if (olds[k].ptr != entry_ptr(&st->blk[old[k]])) {
                unlock(st);
                fz_fail(K_BLOCK, "cmodx_batch_commit reported old target %p for entry %d; "
                        "it was block #%d", olds[k].ptr, k, old[k]);
            }
            switched_locked(w, si[k], nb[k], e[k].action);
        }
        inflight_end_locked(st, old, n, "cmodx_batch_commit");
        unlock(st);
    } else {
        inflight_end_locked(st, old, n, "a failed cmodx_batch_commit");
        unlock(st);
        if (!(err == ETIMEDOUT || (may_fail && (err == EINVAL || err == EBUSY))))
            FZ_EXPECT(K_BLOCK, "cmodx_batch_commit", err, 0);
        for (int k = 0; k < n; k++)
            free_unpublished(w, nb[k]);
    }
    (void)tgt;
    for (int k = 0; k < PRIV; k++)
        check_call(w, priv_slot(w->idx, k));
}

static void retire_some(struct worker *w)
{
    struct storm *st = w->st;
    int bi;
    if (w->nunretired) {
        bi = w->unretired[--w->nunretired];
    } else {
        bi = new_block(w, -3); /* never published */
        if (bi < 0)
            return;
    }
    lock(st);
    st->blk[bi].inflight = 1;
    cmodx_xptr x = st->blk[bi].b.exec;
    unlock(st);
    fz_begin("cmodx_retire(#%d)", bi);
    int err = cmodx_retire(st->d, x);
    fz_end("-> %d", err);
    if (err != ETIMEDOUT)
        FZ_EXPECT(K_BLOCK, "cmodx_retire of an unreachable live block", err, 0);
    lock(st);
    retired_locked(st, bi); /* ETIMEDOUT: back-pressure expired, the block IS retired */
    st->blk[bi].inflight = 0;
    unlock(st);
}

static void synchronize(struct worker *w)
{
    struct storm *st = w->st;
    unsigned timeout = fz_chance(&w->r, 50) ? 0 : 1 + fz_below(&w->r, 50);
    lock(st);
    uint64_t mine = st->retire_seq; /* retired before this call */
    unlock(st);
    fz_begin("cmodx_synchronize(%u ms)", timeout);
    int err = cmodx_synchronize(st->d, timeout);
    fz_end("-> %d", err);
    if (timeout && err == ETIMEDOUT)
        return; /* other threads are online; a bound may expire */
    FZ_EXPECT(timeout ? K_ERRORS : K_LOCK, "cmodx_synchronize", err, 0);
    lock(st);
    for (int i = 0; i < st->nblk; i++) {
        struct blk *b = &st->blk[i];
        if (b->state == S_PENDING && b->retired_seq <= mine) {
            unlock(st);
            fz_fail(K_BLOCK, "block #%d was retired before cmodx_synchronize was called and "
                    "is still pending after it returned 0%s", i,
                    b->entry ? " (it was replaced through an interior entry point +64: did "
                               "CMODX_RETIRE_OLD retire it at all?)" : "");
        }
    }
    unlock(st);
}

/* Writer-side calls that an online thread makes while another may sit in
 * cmodx_synchronize(d, 0): each must return (issue 12, kind 1). */
static void online_calls(struct worker *w)
{
    struct storm *st = w->st;
    int err;
    switch (fz_below(&w->r, 4)) {
    case 0: {
        struct cmodx_reclaim_stats rs;
        fz_begin("cmodx_reclaim_get_stats [online]");
        cmodx_reclaim_get_stats(st->d, &rs);
        fz_end("-> retired %llu freed %llu pending %zu", (unsigned long long)rs.retired_blocks,
               (unsigned long long)rs.freed_blocks, rs.pending_blocks);
        if (rs.pending_blocks != rs.retired_blocks - rs.freed_blocks)
            fz_fail(K_BLOCK, "cmodx_reclaim_get_stats is not a consistent snapshot: pending %zu, "
                    "retired %llu, freed %llu", rs.pending_blocks,
                    (unsigned long long)rs.retired_blocks, (unsigned long long)rs.freed_blocks);
        break;
    }
    case 1:
        fz_begin("cmodx_sync_others [online]");
        err = cmodx_sync_others(st->d);
        fz_end("-> %d", err);
        if (err != ETIMEDOUT)
            FZ_EXPECT(K_ERRORS, "cmodx_sync_others", err, 0);
        break;
    case 2: {
        fz_begin("cmodx_reclaim_poll [online]");
        size_t n = cmodx_reclaim_poll(st->d);
        fz_end("-> %zu", n);
        break;
    }
    default: {
        /* A slot made and finished by an online thread (trampoline: the
         * library assigns it an id under its locks). */
        cmodx_slot tmp;
        memset(&tmp, 0, sizeof tmp);
        lock(st);
        int bi = st->slot[priv_slot(w->idx, 0)].target;
        const void *t = entry_ptr(&st->blk[bi]);
        st->blk[bi].refs++;
        unlock(st);
        fz_begin("cmodx_slot_init(temporary slot -> #%d) [online]", bi);
        err = cmodx_slot_init(st->d, &tmp, (cmodx_xptr){t});
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_slot_init", err, 0);
        if (w->registered && w->online) {
            fz_begin("call the temporary slot");
            uint32_t v = fz_call(cmodx_slot_target(&tmp, w->self));
            fz_end("-> %#x", v);
            if (v != ident_of(bi))
                fz_fail(K_BLOCK, "a new slot initialised to #%d returned %#x", bi, v);
        }
        fz_begin("cmodx_slot_fini(temporary slot) [online]");
        cmodx_slot_fini(&tmp);
        fz_end("-> done");
        lock(st);
        st->blk[bi].refs--;
        unlock(st);
        break;
    }
    }
}

/* ---- fork ---------------------------------------------------------------------------- */

static void fork_child(struct worker *w)
{
    struct storm *st = w->st;
    st->in_fork_child = 1;
    fz_me = 9 + w->idx;
    fz_note("fork child of worker %d (pid %d)", w->idx, (int)getpid());
    /* The snapshot: this worker's own slots hold exactly what it last
     * published, every other slot some block written for it, and every
     * block of ours is intact.  No locks of the parent are taken here. */
    for (int si = 0; si < NSLOTS; si++) {
        if (!st->slot[si].inited)
            continue;
        /* Before calling: is the target live in the heap as inherited, and
         * are its bytes what was written?  That tells a freed block the
         * parent left reachable (kind 3) from a snapshot taken later than
         * the fork (kind 4). */
        const void *t = __atomic_load_n(&st->slot[si].s.target, __ATOMIC_RELAXED);
        cmodx_xptr start;
        if (!cmodx_heap_contains(st->h, (cmodx_xptr){t}, &start))
            fz_fail(K_BLOCK, "fork child: slot %d targets %p, which is not in a live block of "
                    "the inherited heap: the parent had freed a block still reachable from a "
                    "slot", si, t);
        int bi = map_find(st, start.ptr, 0);
        if (bi >= 0 && !fz_code_intact(&st->blk[bi].b, st->blk[bi].entry, ident_of(bi)))
            fz_fail(K_FORK, "fork child: slot %d targets block #%d, live in the child's heap "
                    "metadata, but its bytes are not what was written (first byte 0x%02x): the "
                    "child's code heap is not the parent's at the instant of fork", si, bi,
                    *(unsigned char *)st->blk[bi].b.write.ptr);
        check_call(w, si);
    }
    for (int k = 0; k < PRIV; k++) {
        struct blk *b = &st->blk[st->slot[priv_slot(w->idx, k)].target];
        int bi = st->slot[priv_slot(w->idx, k)].target;
        if (!fz_code_intact(&b->b, b->entry, ident_of(bi)))
            fz_fail(K_FORK, "fork child: block #%d of its own slot is not intact", bi);
    }
    /* The child's domain works on its own: publish, retire, synchronize. */
    int si = priv_slot(w->idx, 0);
    cmodx_block nb;
    fz_begin("child: cmodx_block_alloc(64)");
    int err = cmodx_block_alloc(st->h, 64, &nb);
    fz_end("-> %d", err);
    if (err == ENOMEM && st->heap_limit)
        _exit(0);
    FZ_EXPECT(K_FORK, "fork child: cmodx_block_alloc", err, 0);
    fz_write_code(&nb, 0, 0x600dc0deu);
    fz_begin("child: cmodx_slot_publish(slot %d, RETIRE_OLD)", si);
    err = cmodx_slot_publish(&st->slot[si].s, nb.exec, nb.size, CMODX_RETIRE_OLD, NULL);
    fz_end("-> %d", err);
    FZ_EXPECT(K_FORK, "fork child: cmodx_slot_publish", err, 0);
    if (w->registered && w->online && err == 0) {
        fz_begin("child: call slot %d", si);
        uint32_t v = fz_call(cmodx_slot_target(&st->slot[si].s, w->self));
        fz_end("-> %#x", v);
        if (v != 0x600dc0deu)
            fz_fail(K_FORK, "fork child: slot %d returned %#x after the child published", si, v);
    }
    fz_begin("child: cmodx_synchronize(0) [no other thread exists]");
    err = cmodx_synchronize(st->d, 0);
    fz_end("-> %d", err);
    FZ_EXPECT(K_FORK, "fork child: cmodx_synchronize", err, 0);
    struct cmodx_reclaim_stats rs;
    cmodx_reclaim_get_stats(st->d, &rs);
    if (rs.pending_blocks)
        fz_fail(K_FORK, "fork child: %zu block(s) still pending after cmodx_synchronize with "
                "no other thread", rs.pending_blocks);
    _exit(0);
}

static void do_fork(struct worker *w)
{
    fz_begin("fork() [worker %d, %s]", w->idx, w->online ? "online" : "offline");
    pid_t pid = fork();
    if (pid == 0)
        fork_child(w);
    fz_end("-> %d", (int)pid);
    if (pid < 0)
        return;
    w->forks++;
    go_offline(w);
    int status;
    fz_begin("waitpid(fork child %d)", (int)pid);
    waitpid(pid, &status, 0);
    fz_end("-> status %#x", status);
    go_online(w);
    if (WIFSIGNALED(status))
        fz_fail(K_FORK, "fork child died of signal %d (%s): its code heap was not the "
                "parent's at the instant of fork (it ran freed or later code)",
                WTERMSIG(status), strsignal(WTERMSIG(status)));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fz_fail(K_FORK, "fork child exited with status %d", WEXITSTATUS(status));
}

/* ---- cancellation ----------------------------------------------------------------------- */

struct victim {
    struct worker *w;
    int si;
    int old, nb;   /* the publish under way, -1 if none */
    int rounds;
};

static void *victim_main(void *arg)
{
    struct victim *v = arg;
    struct storm *st = v->w->st;
    int dummy;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &dummy);
    fz_me = 17 + v->w->idx;
    cmodx_thread *self;
    int err = cmodx_thread_register(st->d, &self);
    if (err)
        fz_fail(K_MODEL, "victim: cmodx_thread_register -> %d", err);
    struct fz_rng r = {.s = fz_mix((uint64_t)v->w->idx ^ (uint64_t)v->rounds)};
    for (int i = 0; i < 200; i++) {
        if (fz_chance(&r, 50)) {
            fz_begin("victim: cmodx_synchronize(%d) [cancellable]", i & 1 ? 0 : 5);
            pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &dummy);
            err = cmodx_synchronize(st->d, i & 1 ? 0 : 5);
            pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &dummy);
            fz_end("-> %d", err);
        } else {
            cmodx_block b;
            if (cmodx_block_alloc(st->h, 64, &b))
                continue;
            lock(st);
            int bi = st->nblk < MAXB ? st->nblk++ : -1;
            if (bi >= 0) {
                memset(&st->blk[bi], 0, sizeof st->blk[bi]);
                st->blk[bi].b = b;
                st->blk[bi].state = S_LIVE;
                st->blk[bi].for_slot = v->si;
                st->blk[bi].owner = -1;
                map_put(st, bi);
                v->old = st->slot[v->si].target;
                v->nb = bi;
                st->blk[v->old].inflight = 1;
            }
            unlock(st);
            if (bi < 0) {
                cmodx_block_free(st->h, b.exec);
                break;
            }
            fz_write_code(&b, 0, ident_of(bi));
            fz_begin("victim: cmodx_slot_publish(slot %d: #%d -> #%d, RETIRE_OLD) [cancellable]",
                     v->si, v->old, bi);
            pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &dummy);
            err = cmodx_slot_publish(&st->slot[v->si].s, b.exec, 64, CMODX_RETIRE_OLD, NULL);
            pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &dummy);
            fz_end("-> %d", err);
            lock(st);
            if (err == 0) {
                int old = v->old;
                st->blk[old].refs--;
                st->blk[bi].refs++;
                st->slot[v->si].target = bi;
                retired_locked(st, old);
            }
            st->blk[v->old].inflight = 0;
            if (st->blk[v->old].freed_inflight) {
                unlock(st);
                fz_fail(K_BLOCK, "victim: a publish freed block #%d unexpectedly", v->old);
            }
            v->old = v->nb = -1;
            unlock(st);
            if (err) {
                lock(st);
                st->blk[bi].state = S_FREED;
                map_find(st, b.exec.ptr, 1);
                unlock(st);
                cmodx_block_free(st->h, b.exec);
            }
        }
        cmodx_quiescent(self);
    }
    return NULL; /* exits registered: the destructor unregisters it */
}

static void cancel_victim(struct worker *w)
{
    struct storm *st = w->st;
    struct victim v = {.w = w, .si = victim_slot(w->idx), .old = -1, .nb = -1,
                       .rounds = (int)fz_next(&w->r)};
    pthread_t th;
    fz_begin("pthread_create(victim) on slot %d", v.si);
    pthread_create(&th, NULL, victim_main, &v);
    fz_end("-> done");
    go_offline(w);
    usleep(fz_below(&w->r, 3000));
    fz_begin("pthread_cancel(victim); pthread_join [the victim may be inside a library call]");
    pthread_cancel(th);
    pthread_join(th, NULL);
    fz_end("-> joined");
    go_online(w);
    /* Resolve the publish the cancellation interrupted: all or nothing. */
    lock(st);
    if (v.nb >= 0) {
        const void *t = __atomic_load_n(&st->slot[v.si].s.target, __ATOMIC_RELAXED);
        struct blk *ob = &st->blk[v.old], *nb = &st->blk[v.nb];
        ob->inflight = 0;
        if (t == entry_ptr(nb)) {
            ob->refs--;
            nb->refs++;
            st->slot[v.si].target = v.nb;
            retired_locked(st, v.old);
        } else if (t == entry_ptr(ob)) {
            if (ob->freed_inflight) {
                unlock(st);
                fz_fail(K_CANCEL, "a cancelled publish left slot %d unchanged but freed its old "
                        "block #%d", v.si, v.old);
            }
            int nbi = v.nb;
            unlock(st);
            free_unpublished(w, nbi);
            lock(st);
        } else {
            unlock(st);
            fz_fail(K_CANCEL, "after a cancelled publish, slot %d targets %p: neither its old "
                    "nor its new block", v.si, t);
        }
    }
    unlock(st);
}

/* ---- a scenario on a domain of its own, meanwhile ------------------------------------- */

static void side_scenario(struct worker *w)
{
    /* Any strategy of the library (numbered from 1 up to the first
     * unknown name). */
    unsigned n = 0;
    while (strcmp(cmodx_strategy_name((enum cmodx_strategy)(n + 1)), "unknown") != 0)
        n++;
    enum cmodx_strategy s = fz_chance(&w->r, 50)
                                ? w->st->strategy
                                : (enum cmodx_strategy)(1 + fz_below(&w->r, n));
    if (s != w->st->strategy && fz_strategy_probe(s))
        return;
    go_offline(w);
    fz_note("worker %d: a scenario on its own %s domain", w->idx, cmodx_strategy_name(s));
    fz_scenario(&w->r, s, 20 + fz_below(&w->r, 40), 1);
    go_online(w);
}

/* ---- checkpoints ----------------------------------------------------------------------- */

static void park(struct worker *w)
{
    struct storm *st = w->st;
    go_offline(w);
    __atomic_add_fetch(&st->parked, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&st->pause, __ATOMIC_ACQUIRE))
        usleep(200);
    __atomic_sub_fetch(&st->parked, 1, __ATOMIC_ACQ_REL);
    go_online(w);
}

static void check_everything(struct storm *st, const char *when)
{
    fz_begin("%s: cmodx_synchronize(0) with every worker parked offline", when);
    int err = cmodx_synchronize(st->d, 0);
    fz_end("-> %d", err);
    FZ_EXPECT(K_LOCK, "cmodx_synchronize at a checkpoint", err, 0);
    /* Nothing moves while the workers are parked: read the library's
     * accounting first, without the model lock (the free hook takes the
     * model lock inside the library's). */
    struct cmodx_heap_stats hs;
    cmodx_heap_get_stats(st->h, &hs);
    struct cmodx_reclaim_stats rs;
    cmodx_reclaim_get_stats(st->d, &rs);
    lock(st);
    size_t live = 0, live_bytes = 0, doomed = 0;
    for (int i = 0; i < st->nblk; i++) {
        struct blk *b = &st->blk[i];
        if (b->state == S_PENDING) {
            unlock(st);
            fz_fail(K_BLOCK, "%s: block #%d is still pending after cmodx_synchronize%s", when, i,
                    b->entry ? " (it was replaced through an interior entry point +64: did "
                               "CMODX_RETIRE_OLD retire it at all?)" : "");
        }
        if (b->state == S_LIVE) {
            live++;
            live_bytes += b->b.size;
            doomed += b->doomed;
            if (!fz_code_intact(&b->b, b->entry, ident_of(i))) {
                unlock(st);
                fz_fail(K_BLOCK, "%s: live block #%d (%p) no longer holds its bytes (first "
                        "byte 0x%02x)", when, i, b->b.exec.ptr,
                        *(unsigned char *)b->b.write.ptr);
            }
        }
    }
    for (int si = 0; si < NSLOTS; si++) {
        struct slot *s = &st->slot[si];
        if (!s->inited)
            continue;
        struct blk *b = &st->blk[s->target];
        const void *t = __atomic_load_n(&s->s.target, __ATOMIC_RELAXED);
        if (t != entry_ptr(b) || b->state != S_LIVE) {
            unlock(st);
            fz_fail(K_BLOCK, "%s: slot %d targets %p; the model says live block #%d at %p",
                    when, si, t, s->target, entry_ptr(b));
        }
        cmodx_xptr start;
        if (!cmodx_heap_contains(st->h, (cmodx_xptr){t}, &start) || start.ptr != b->b.exec.ptr) {
            unlock(st);
            fz_fail(K_BLOCK, "%s: slot %d targets %p, which is not in a live block (freed "
                    "block reachable from a slot)", when, si, t);
        }
    }
    uint64_t retired = st->retired, freed = st->freed;
    unlock(st);
    if (hs.live_blocks != live || hs.live_bytes != live_bytes)
        fz_fail(K_BLOCK, "%s: heap accounting: live_blocks %zu / %zu bytes; the model has %zu / "
                "%zu", when, hs.live_blocks, hs.live_bytes, live, live_bytes);
    if (rs.freed_blocks != freed || rs.retired_blocks < retired ||
        rs.retired_blocks > retired + doomed || rs.pending_blocks != rs.retired_blocks - freed)
        fz_fail(K_BLOCK, "%s: reclamation accounting: retired %llu, freed %llu, pending %zu; "
                "the model has retired %llu, freed %llu (+%zu retired while shared)", when,
                (unsigned long long)rs.retired_blocks, (unsigned long long)rs.freed_blocks,
                rs.pending_blocks, (unsigned long long)retired, (unsigned long long)freed,
                doomed);
    fz_check_no_wx();
}

static void checkpoint(struct storm *st)
{
    __atomic_store_n(&st->pause, 1, __ATOMIC_RELEASE);
    fz_begin("checkpoint: waiting for the workers to park");
    for (;;) {
        unsigned active = 0;
        for (unsigned i = 0; i < st->nw; i++)
            active += !__atomic_load_n(&st->w[i].done, __ATOMIC_ACQUIRE);
        if ((unsigned)__atomic_load_n(&st->parked, __ATOMIC_ACQUIRE) >= active)
            break;
        usleep(200);
    }
    fz_end("-> parked");
    check_everything(st, "checkpoint");
    __atomic_store_n(&st->pause, 0, __ATOMIC_RELEASE);
}

/* ---- the worker ---------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct storm *st = w->st;
    fz_me = 1 + w->idx;
    fz_begin("worker %d: cmodx_thread_register", w->idx);
    int err = cmodx_thread_register(st->d, &w->self);
    fz_end("-> %d", err);
    FZ_EXPECT(K_ERRORS, "cmodx_thread_register", err, 0);
    w->registered = w->online = 1;
    while (!__atomic_load_n(&st->stop, __ATOMIC_ACQUIRE)) {
        if (__atomic_load_n(&st->pause, __ATOMIC_ACQUIRE))
            park(w);
        unsigned op = fz_below(&w->r, 100);
        if (!w->registered) {
            fz_begin("cmodx_thread_register (again)");
            err = cmodx_thread_register(st->d, &w->self);
            fz_end("-> %d", err);
            FZ_EXPECT(K_ERRORS, "cmodx_thread_register", err, 0);
            w->registered = w->online = 1;
        } else if (op < 22) {
            for (int si = 0; si < NSLOTS; si++)
                if (si < MAXW * PRIV + NSHARED && fz_chance(&w->r, 50))
                    check_call(w, si);
        } else if (op < 42) {
            publish(w, priv_slot(w->idx, (int)fz_below(&w->r, PRIV)));
        } else if (op < 50) {
            int k = (int)fz_below(&w->r, NSHARED);
            if ((unsigned)k % st->nw == (unsigned)w->idx)
                publish(w, shared_slot(k));
        } else if (op < 56) {
            batch(w);
        } else if (op < 66) {
            retire_some(w);
        } else if (op < 72) {
            synchronize(w);
        } else if (op < 80) {
            online_calls(w);
        } else if (op < 85) {
            fz_begin("offline, sleep, online");
            cmodx_thread_offline(w->self);
            usleep(fz_below(&w->r, 500));
            cmodx_thread_online(w->self);
            fz_end("-> done");
        } else if (op < 88) {
            fz_begin("cmodx_thread_unregister");
            err = cmodx_thread_unregister(st->d);
            fz_end("-> %d", err);
            FZ_EXPECT(K_ERRORS, "cmodx_thread_unregister", err, 0);
            w->registered = w->online = 0;
        } else if (op < 90 && w->forks < 3 && fz_chance(&w->r, 50)) {
            do_fork(w);
        } else if (op < 92) {
            cancel_victim(w);
        } else if (op < 94 && !st->o->no_side) {
            side_scenario(w);
        } else {
            while (w->nunretired)
                retire_some(w);
        }
        if (w->registered && w->online)
            cmodx_quiescent(w->self);
        check_no_wx_sometimes(w);
    }
    while (w->nunretired)
        retire_some(w);
    if (w->exit_mode == 0 && w->registered) {
        fz_begin("worker %d: cmodx_thread_unregister and exit", w->idx);
        err = cmodx_thread_unregister(st->d);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_thread_unregister", err, 0);
        w->registered = 0;
    }
    go_offline(w);
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    if (w->exit_mode == 2 && w->registered) {
        fz_begin("worker %d: lingering, registered and offline", w->idx);
        while (!__atomic_load_n(&w->linger_release, __ATOMIC_ACQUIRE))
            usleep(200);
        fz_end("-> released; exit without unregistering");
    } else if (w->registered) {
        fz_note("worker %d: exit without unregistering (the destructor does it)", w->idx);
    }
    return NULL;
}

/* ---- the episode -------------------------------------------------------------------------- */

/* How many slots of the episode are initialised. */
static int live_slots(struct storm *st)
{
    int n = 0;
    for (int si = 0; si < NSLOTS; si++)
        n += st->slot[si].inited != 0;
    return n;
}

/* Finish every initialised slot (the workers are done): a domain with
 * live slots is not destroyed (EBUSY, issue 12 kind 8). */
static void fini_all(struct storm *st)
{
    for (int si = 0; si < NSLOTS; si++)
        if (st->slot[si].inited) {
            lock(st);
            int bi = st->slot[si].target;
            st->blk[bi].inflight = 1;
            unlock(st);
            cmodx_slot_fini(&st->slot[si].s);
            lock(st);
            st->slot[si].inited = 0;
            struct blk *b = &st->blk[bi];
            b->refs--;
            b->inflight = 0;
            /* The library's rule: the last slot leaving a block that
             * CMODX_RETIRE_OLD left retires it, and cmodx_slot_fini is
             * such a leaving (it may even be freed within the call: no
             * other thread is online). */
            if (b->doomed && b->refs == 0 && (b->state == S_LIVE || b->freed_inflight))
                retired_locked(st, bi);
            unlock(st);
        }
}

static int init_slot(struct storm *st, int si, int bi, int owner)
{
    int err = cmodx_make_visible(st->blk[bi].b.exec, st->blk[bi].b.size);
    FZ_EXPECT(K_ERRORS, "cmodx_make_visible", err, 0);
    st->slot[si].owner = owner;
    st->slot[si].target = bi;
    fz_begin("cmodx_slot_init(slot %d -> #%d)", si, bi);
    err = cmodx_slot_init(st->d, &st->slot[si].s, (cmodx_xptr){entry_ptr(&st->blk[bi])});
    fz_end("-> %d", err);
    FZ_EXPECT(K_ERRORS, "cmodx_slot_init", err, 0);
    st->slot[si].inited = 1;
    st->blk[bi].refs++;
    return 0;
}

void fz_storm(uint64_t seed, const struct fz_options *o)
{
    struct storm *st = calloc(1, sizeof *st);
    g_storm = st;
    st->o = o;
    st->strategy = o->strategy;
    st->nw = o->workers;
    st->blk = calloc(MAXB, sizeof *st->blk);
    pthread_mutex_init(&st->m, NULL);
    pthread_mutex_init(&st->shared_pub, NULL);
    struct fz_rng r = {.s = seed};
    fz_me = 0;

    st->heap_limit = fz_chance(&r, 50) ? 0 : 256 << 10;
    struct cmodx_heap_config hc = {.limit_bytes = st->heap_limit,
                                   .chunk_bytes = fz_chance(&r, 50) ? 0 : 16 << 10};
    fz_begin("storm: cmodx_heap_create(limit %zu)", st->heap_limit);
    int err = cmodx_heap_create(&hc, &st->h);
    fz_end("-> %d", err);
    FZ_EXPECT(K_ERRORS, "cmodx_heap_create", err, 0);
    int block_phase = st->strategy == CMODX_SYNC_SIGNAL && fz_chance(&r, 40);
    struct cmodx_domain_config c = {
        .strategy = st->strategy,
        .heap = st->h,
        .signal_number = fz_sync_signal(),
        .signal_timeout_ms = block_phase ? 40 : 0,
        .retired_limit_bytes = fz_chance(&r, 30) ? 4096 : 0,
        .grace_timeout_ms = 0,
        .flags = fz_chance(&r, 25) ? CMODX_DOMAIN_SYMMETRIC_FENCES : 0,
    };
    fz_begin("storm: cmodx_domain_create(%s, retired limit %zu, flags %#x, %u workers)",
             cmodx_strategy_name(st->strategy), c.retired_limit_bytes, c.flags, st->nw);
    err = cmodx_domain_create(&c, &st->d);
    fz_end("-> %d", err);
    FZ_EXPECT(K_ERRORS, "cmodx_domain_create", err, 0);
    cmodx_debug_set_free_hook(st->d, free_hook, st);

    /* Shared slots start on one shared stub block, the last on an interior
     * entry point; private and victim slots on their own blocks. */
    struct worker boot = {.st = st, .idx = 0, .r = {.s = fz_mix(seed + 99)}};
    int stub = new_block(&boot, -1);
    int inner = new_block(&boot, -1);
    if (stub < 0 || inner < 0)
        fz_fail(K_MODEL, "storm: no room for the initial blocks");
    st->blk[stub].entry = 0;
    st->blk[inner].entry = st->blk[inner].b.size >= 128 ? 64 : 0;
    fz_write_code(&st->blk[stub].b, 0, ident_of(stub));
    fz_write_code(&st->blk[inner].b, st->blk[inner].entry, ident_of(inner));
    st->blk[stub].owner = st->blk[inner].owner = -1;
    for (int k = 0; k < NSHARED; k++)
        init_slot(st, shared_slot(k), k == NSHARED - 1 ? inner : stub, k % (int)st->nw);
    for (unsigned i = 0; i < st->nw; i++) {
        struct worker *w = &st->w[i];
        w->st = st;
        w->idx = (int)i;
        w->r.s = fz_mix(seed ^ (0x1000 + i));
        w->exit_mode = (int)fz_below(&r, 3);
        for (int k = 0; k < PRIV; k++) {
            int bi = new_block(w, priv_slot((int)i, k));
            if (bi < 0)
                fz_fail(K_MODEL, "storm: no room for the initial blocks");
            init_slot(st, priv_slot((int)i, k), bi, (int)i);
        }
        int vb = new_block(w, victim_slot((int)i));
        if (vb < 0)
            fz_fail(K_MODEL, "storm: no room for the initial blocks");
        init_slot(st, victim_slot((int)i), vb, -1);
    }

    for (unsigned i = 0; i < st->nw; i++)
        pthread_create(&st->w[i].th, NULL, worker_main, &st->w[i]);

    /* The coordinator: checkpoints, and with the signal strategy a phase in
     * which it is registered, online and blocks the sync signal. */
    uint64_t end = fz_now_ns() + (uint64_t)o->episode_ms * 1000000u;
    int blocked = 0;
    while (fz_now_ns() < end) {
        usleep(20000 + fz_below(&r, 80000));
        if (block_phase && !blocked) {
            sigset_t s;
            sigemptyset(&s);
            sigaddset(&s, fz_sync_signal());
            pthread_sigmask(SIG_BLOCK, &s, NULL);
            cmodx_thread *self;
            fz_begin("coordinator: register, block the sync signal, stay online 100 ms");
            err = cmodx_thread_register(st->d, &self);
            FZ_EXPECT(K_ERRORS, "cmodx_thread_register", err, 0);
            usleep(100000);
            cmodx_quiescent(self);
            err = cmodx_thread_unregister(st->d);
            fz_end("-> unregistered (signal still blocked until the domain is gone)");
            FZ_EXPECT(K_ERRORS, "cmodx_thread_unregister", err, 0);
            blocked = 1;
            continue;
        }
        checkpoint(st);
    }
    __atomic_store_n(&st->stop, 1, __ATOMIC_RELEASE);

    /* Destroy in one of several orders. */
    int order = (int)fz_below(&r, 3);
    if (order == 0) {
        /* Race the exiting workers: destroy refuses while any is registered,
         * and must not touch a record an exiting thread is freeing. */
        for (unsigned i = 0; i < st->nw; i++)
            while (!__atomic_load_n(&st->w[i].done, __ATOMIC_ACQUIRE))
                usleep(200);
        /* The slots first: live ones keep the domain (EBUSY for ever). */
        fini_all(st);
        fz_begin("cmodx_domain_destroy while the workers exit (retry on EBUSY)");
        for (;;) {
            for (unsigned i = 0; i < st->nw; i++)
                __atomic_store_n(&st->w[i].linger_release, 1, __ATOMIC_RELEASE);
            err = cmodx_domain_destroy(st->d);
            if (err != EBUSY)
                break;
            usleep(100);
        }
        fz_end("-> %d", err);
        FZ_EXPECT(K_LIFETIME, "cmodx_domain_destroy", err, 0);
        for (unsigned i = 0; i < st->nw; i++)
            pthread_join(st->w[i].th, NULL);
        st->d = NULL;
    } else {
        for (unsigned i = 0; i < st->nw; i++)
            while (!__atomic_load_n(&st->w[i].done, __ATOMIC_ACQUIRE))
                usleep(200);
        int lingering = 0;
        for (unsigned i = 0; i < st->nw; i++)
            lingering |= st->w[i].exit_mode == 2 && st->w[i].registered;
        if (lingering) {
            fz_begin("cmodx_domain_destroy [a worker is still registered]");
            err = cmodx_domain_destroy(st->d);
            fz_end("-> %d", err);
            FZ_EXPECT(K_LIFETIME, "cmodx_domain_destroy while a thread is registered", err,
                      EBUSY);
        }
        for (unsigned i = 0; i < st->nw; i++) {
            __atomic_store_n(&st->w[i].linger_release, 1, __ATOMIC_RELEASE);
            pthread_join(st->w[i].th, NULL);
        }
        check_everything(st, "end of episode");
        if (order == 2 && live_slots(st)) {
            /* Live slots keep the domain: refused, and still usable. */
            fz_begin("cmodx_domain_destroy [%d slot(s) still initialised]", live_slots(st));
            err = cmodx_domain_destroy(st->d);
            fz_end("-> %d", err);
            FZ_EXPECT(K_LIFETIME, "cmodx_domain_destroy while slots of the domain are "
                      "initialised", err, EBUSY);
            check_everything(st, "after a refused cmodx_domain_destroy");
        }
        fini_all(st);
        fz_begin("cmodx_domain_destroy");
        err = cmodx_domain_destroy(st->d);
        fz_end("-> %d", err);
        FZ_EXPECT(K_LIFETIME, "cmodx_domain_destroy", err, 0);
        st->d = NULL;
        for (int i = 0; i < st->nblk; i++)
            if (st->blk[i].state == S_PENDING)
                fz_fail(K_LIFETIME, "block #%d was retired but cmodx_domain_destroy did not "
                        "free it", i);
    }
    if (blocked) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, fz_sync_signal());
        fz_set_note("the coordinator unblocks the sync signal after the domain was destroyed");
        pthread_sigmask(SIG_UNBLOCK, &s, NULL);
        fz_set_note("%s", "");
    }
    fz_check_no_wx();
    fz_heap_destroy(st->h);
}
