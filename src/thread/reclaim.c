/*
 * src/thread/reclaim.c - quiescent-state-based reclamation of retired blocks.
 *
 * State: the domain's grace-period counter gp_seq; each registered
 * thread's qs_ctr (0 while offline, else the last gp_seq it announced at a
 * quiescent state); a FIFO of retired blocks, each with the grace period
 * it waits for (0 until one is started for it).
 *
 * Ordering argument (writer W, reader R; "fence" = membarrier when the
 * domain has asymmetric fences, else a seq_cst fence on W with the reader
 * side's acquire/release):
 *   W1  unlink: the slot's release store (src/slot/publish.c), before retire;
 *   F   a fence that happened after W1 (a publish's membarrier SYNC_CORE
 *       counts: reclaim_note_fence), issued here if none did;
 *   W2  gp_seq = G (release);
 *   W3  read every online qs_ctr, after F;
 *   W4  free the block once every online qs_ctr >= G.
 * (a) A reader that announces G read W2.  With membarrier, F forced a full
 *     barrier into R at a point P of its program; R's load of W2 comes
 *     after P (W2 did not exist before F returned), so R's later slot
 *     loads also come after P and see W1: R cannot newly obtain the old
 *     block after announcing G.  Without membarrier, R's acquire fence
 *     after reading W2 gives the same.
 * (b) R's accesses to the old block come before its announcement, which is
 *     a release store: W4, which read it, comes after them.
 * (c) A thread coming online stores qs_ctr before it loads any slot; F
 *     (or its own seq_cst fence, pairing with W's before W3) makes W3
 *     either see it online or it see W1.
 * One membarrier therefore serves both the instruction-stream
 * synchronisation of a publish and the grace period's fence.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "arch/arch.h"
#include "base/base.h"
#include "heap/heap.h"
#include "thread/reclaim.h"
#include "thread/thread.h"

void reclaim_note_fence(cmodx_domain *d)
{
    d->fences++;
    d->stats.fences++;
}

static void fence_all(cmodx_domain *d)
{
    if (!d->asym_fences || fences_membarrier(d) != 0)
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    reclaim_note_fence(d);
}

/* Give retired blocks without a grace period the next one.  A fence must
 * separate a block's unlink from the new gp_seq.  Blocks retired before
 * the latest fence (a publish's membarrier counts) have one; for the rest
 * a fence is issued if MAY_FENCE, else they wait for the next publish's
 * membarrier, which then serves both purposes.  FORCE starts a period even
 * with nothing pending (cmodx_synchronize). */
static void start_grace_period(cmodx_domain *d, int force, int may_fence)
{
    /* Blocks are retired in order and fences only increase, so the blocks
     * still waiting for a period are a tail of the list and, within it,
     * those with a fence since their unlink come first. */
    struct retired *first = d->unassigned;
    int fenced = first && first->fence_at_retire < d->fences;
    int unfenced = first && d->retired_last->fence_at_retire == d->fences;
    /* FORCE: the caller may have unlinked code itself; fence for it. */
    if (force || (unfenced && may_fence)) {
        fence_all(d);
        fenced |= unfenced;
    }
    if (!fenced && !force)
        return;
    uint64_t g = d->gp_seq + 1;
    __atomic_store_n(&d->gp_seq, g, __ATOMIC_RELEASE);
    d->stats.grace_periods++;
    struct retired *r = first;
    for (; r && r->fence_at_retire < d->fences; r = r->next)
        r->gp = g;
    d->unassigned = r;
}

/* The smallest grace period announced by an online thread (the current
 * one if none lags); *LAGGARD names a thread that holds it back. */
static uint64_t oldest_announced(cmodx_domain *d, pid_t *laggard)
{
    uint64_t min = __atomic_load_n(&d->gp_seq, __ATOMIC_RELAXED);
    *laggard = 0;
    if (!d->asym_fences)
        __atomic_thread_fence(__ATOMIC_SEQ_CST); /* pairs with cmodx_thread_online() */
    pthread_mutex_lock(&d->reg_lock);
    for (struct thread_rec *t = d->threads; t; t = t->next) {
        uint64_t c = __atomic_load_n(&t->pub.fast.qs_ctr, __ATOMIC_ACQUIRE);
        if (c != 0 && c < min) {
            min = c;
            *laggard = t->tid;
        }
    }
    pthread_mutex_unlock(&d->reg_lock);
    return min;
}

static size_t free_completed(cmodx_domain *d, uint64_t done)
{
    size_t n = 0;
    while (d->retired_head && d->retired_head->gp != 0 &&
           (d->retired_head->gp <= done || MUTANT(no_grace_period))) {
        struct retired *r = d->retired_head;
        d->retired_head = r->next;
        if (!d->retired_head) {
            d->retired_tail = &d->retired_head;
            d->retired_last = NULL;
        }
        if (d->free_hook)
            d->free_hook(d->free_hook_arg, r->block);
        cmodx_block_free(d->heap, r->block);
        d->stats.pending_blocks--;
        d->stats.pending_bytes -= r->bytes;
        d->stats.freed_blocks++;
        free(r);
        n++;
    }
    return n;
}

static size_t advance(cmodx_domain *d, int may_fence)
{
    pid_t laggard;
    start_grace_period(d, 0, may_fence);
    return free_completed(d, oldest_announced(d, &laggard));
}

/* May the writer pay for a fence now to start a grace period?  Always when
 * fences are cheap (no membarrier).  With membarrier, once enough blocks
 * wait, so one call serves many; never after a publish of the membarrier
 * strategy, whose next publish fences anyway and serves both purposes. */
#define RETIRED_PER_FENCE 32

static int fence_now(cmodx_domain *d, int publishes_fence)
{
    if (!d->asym_fences)
        return 1;
    return !publishes_fence && d->stats.pending_blocks >= RETIRED_PER_FENCE;
}

void reclaim_advance_locked(cmodx_domain *d, int publish_fences)
{
    advance(d, fence_now(d, publish_fences));
}

int reclaim_retire_locked(cmodx_domain *d, cmodx_xptr block, int wait_allowed)
{
    size_t bytes = heap_live_block_size(d->heap, block);
    if (!bytes)
        return cmodx_fail(EINVAL, "cmodx_retire: %p is not a live block of the domain's heap",
                          block.ptr);
    int err = wait_allowed ? reclaim_make_room_locked(d, bytes) : 0;
    struct retired *r = malloc(sizeof *r);
    if (!r)
        return cmodx_fail(ENOMEM, "cmodx_retire: out of memory");
    r->next = NULL;
    r->block = block;
    r->bytes = bytes;
    r->fence_at_retire = d->fences;
    r->gp = 0;
    *d->retired_tail = r;
    d->retired_tail = &r->next;
    d->retired_last = r;
    if (!d->unassigned)
        d->unassigned = r;
    d->stats.retired_blocks++;
    d->stats.pending_blocks++;
    d->stats.pending_bytes += bytes;
    return err;
}

void cmodx_gp_wake(cmodx_thread *self)
{
    uint32_t *w = (uint32_t *)(uintptr_t)self->fast.gp_waiting;
    if (__atomic_exchange_n(w, 0, __ATOMIC_RELAXED))
        syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Sleep until a reader clears the flag, at most 1 ms: threads that go
 * offline or exit do not wake us, and the timeout must be noticed. */
static void sleep_until_woken(cmodx_domain *d)
{
    struct timespec ts = {0, 1000000};
    syscall(SYS_futex, &d->gp_waiting, FUTEX_WAIT_PRIVATE, 1, &ts, NULL, 0);
}

static int timed_out(uint64_t start, unsigned timeout_ms)
{
    return timeout_ms && (cmodx_now_ns() - start) / 1000000u > timeout_ms;
}

/* Wait until every online thread has announced grace period TARGET: spin
 * briefly (readers on other cores announce within microseconds), then
 * sleep.  The writer sets gp_waiting, fences (a membarrier with asymmetric
 * fences, pairing with the compiler barrier in cmodx_quiescent(); else a
 * seq_cst fence pairing with the reader's), looks once more, and sleeps on
 * the futex that the last reader's announcement wakes, as liburcu does. */
static int wait_for(cmodx_domain *d, uint64_t target, unsigned timeout_ms, const char *who,
                    int flag_fenced)
{
    uint64_t start = cmodx_now_ns();
    pid_t laggard = 0;
    for (int i = 0; i < 200; i++) {
        if (oldest_announced(d, &laggard) >= target)
            return 0;
        arch_cpu_relax();
    }
    for (unsigned round = 0;; round++) {
        /* The flag must be set before a membarrier that precedes our last
         * look.  If it was set before the fence that started this grace
         * period and no reader has cleared it, that fence serves: a reader
         * that announces TARGET read gp_seq after that fence, so its later
         * load of the flag sees it set.  Otherwise set it and fence again. */
        if (!(flag_fenced && round == 0 && __atomic_load_n(&d->gp_waiting, __ATOMIC_RELAXED))) {
            __atomic_store_n(&d->gp_waiting, 1, __ATOMIC_RELAXED);
            fence_all(d);
        }
        if (oldest_announced(d, &laggard) >= target)
            break;
        if (timed_out(start, timeout_ms)) {
            __atomic_store_n(&d->gp_waiting, 0, __ATOMIC_RELAXED);
            return cmodx_fail(ETIMEDOUT, "%s: grace period not complete after %u ms: thread %d "
                              "is online but has not passed a quiescent state", who, timeout_ms,
                              (int)laggard);
        }
        sleep_until_woken(d);
    }
    __atomic_store_n(&d->gp_waiting, 0, __ATOMIC_RELAXED);
    return 0;
}

int reclaim_make_room_locked(cmodx_domain *d, size_t incoming)
{
    if (d->stats.pending_bytes + incoming <= d->retired_limit)
        return 0;
    advance(d, 1);
    if (d->stats.pending_bytes + incoming <= d->retired_limit || !d->retired_head)
        return 0;
    /* Back-pressure: wait for the grace period of everything pending. */
    d->stats.backpressure_waits++;
    start_grace_period(d, 0, 1);
    int err = wait_for(d, d->gp_seq, d->grace_timeout_ms, "retired-memory limit", 0);
    if (!err)
        free_completed(d, d->gp_seq);
    return err;
}

/* ---- public API -------------------------------------------------------------------- */

int cmodx_retire(cmodx_domain *d, cmodx_xptr block)
{
    if (!d || !d->heap)
        return cmodx_fail(EINVAL, "cmodx_retire: %s", d ? "the domain has no heap" : "NULL domain");
    struct thread_rec *t = writer_enter(d);
    int err = reclaim_retire_locked(d, block, 1);
    if (err != EINVAL && err != ENOMEM)
        advance(d, fence_now(d, 0));
    writer_leave(d, t);
    return err;
}

int cmodx_synchronize(cmodx_domain *d, unsigned timeout_ms)
{
    if (!d)
        return cmodx_fail(EINVAL, "cmodx_synchronize: NULL domain");
    struct thread_rec *t = writer_enter(d);
    /* With asymmetric fences, set the flag before the membarrier that
     * starts the period, so that one membarrier also orders the wake-up
     * (readers then make a wake system call per grace period, cheaper
     * than a second membarrier).  Symmetric fences are cheap: set it only
     * when about to sleep, so that readers make no system call when the
     * writer's spin suffices. */
    int preset = d->asym_fences;
    if (preset)
        __atomic_store_n(&d->gp_waiting, 1, __ATOMIC_RELAXED);
    start_grace_period(d, 1, 1);
    int err = wait_for(d, d->gp_seq, timeout_ms, "cmodx_synchronize", preset);
    if (!err && d->heap)
        free_completed(d, d->gp_seq);
    writer_leave(d, t);
    return err;
}

size_t cmodx_reclaim_poll(cmodx_domain *d)
{
    if (!d)
        return 0;
    struct thread_rec *t = writer_enter(d);
    size_t n = d->heap ? advance(d, 1) : 0;
    writer_leave(d, t);
    return n;
}

void cmodx_reclaim_get_stats(cmodx_domain *d, struct cmodx_reclaim_stats *out)
{
    if (!d || !out)
        return;
    pthread_mutex_lock(&d->writer_lock);
    *out = d->stats;
    pthread_mutex_unlock(&d->writer_lock);
}

void cmodx_debug_set_free_hook(cmodx_domain *d, void (*hook)(void *, cmodx_xptr), void *arg)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->writer_lock);
    d->free_hook = hook;
    d->free_hook_arg = arg;
    pthread_mutex_unlock(&d->writer_lock);
}

/* Domain destruction: one last bounded grace period, then free what it
 * covers; blocks it could not cover are leaked rather than freed unsafely. */
void reclaim_teardown(cmodx_domain *d)
{
    if (!d->retired_head)
        return;
    pthread_mutex_lock(&d->writer_lock);
    start_grace_period(d, 1, 1);
    if (wait_for(d, d->gp_seq, d->grace_timeout_ms, "cmodx_domain_destroy", 0) == 0)
        free_completed(d, d->gp_seq);
    while (d->retired_head) {
        struct retired *r = d->retired_head;
        d->retired_head = r->next;
        free(r);
    }
    d->retired_tail = &d->retired_head;
    d->retired_last = d->unassigned = NULL;
    pthread_mutex_unlock(&d->writer_lock);
}
