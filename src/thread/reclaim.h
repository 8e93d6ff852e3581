/*
 * src/thread/reclaim.h - quiescent-state-based reclamation (reclaim.c),
 * for the layers above.  Every _locked function needs D's writer lock.
 */
#ifndef CMODX_SRC_THREAD_RECLAIM_H
#define CMODX_SRC_THREAD_RECLAIM_H

#include <stddef.h>

#include "thread/thread.h"

/* Queue BLOCK (a live block of D's heap, just unlinked) for freeing after
 * a grace period.  WAIT_ALLOWED: may first wait for room under the
 * retired-memory limit.  0, EINVAL (not a live block), ENOMEM, ETIMEDOUT. */
int reclaim_retire_locked(cmodx_domain *d, cmodx_xptr block, int wait_allowed);

/* Reserve records for N retirements, so that the N next calls of
 * reclaim_retire_locked() cannot fail for memory: a publish reserves
 * before it switches, because after the switch the old block must be
 * queued (a failure there would leave it neither queued nor freed).  0
 * or ENOMEM. */
int reclaim_reserve_locked(cmodx_domain *d, size_t n);

/* Make room for INCOMING more retired bytes under the limit, waiting for
 * a grace period if needed.  0 or ETIMEDOUT. */
int reclaim_make_room_locked(cmodx_domain *d, size_t incoming);

/* After a publish: start a grace period for what was retired and free
 * what completed ones cover.  PUBLISH_FENCES: the publish's cross-thread
 * step is itself a fence on every thread, so the next publish will serve
 * as the fence for blocks retired now (no extra membarrier). */
void reclaim_advance_locked(cmodx_domain *d, int publish_fences);

/* A fence on every thread just completed (a strategy's cross-thread step
 * that is one): blocks unlinked before it need no other. */
void reclaim_note_fence(cmodx_domain *d);

/* Run the free hooks of the blocks whose grace period completed inside
 * the calling thread's writer section, then free those blocks: called by
 * writer_leave() after the writer lock is released (the hooks may call
 * back into their domain), while the thread is still parked. */
void reclaim_run_hooks(void);

/* Is the calling thread inside a free hook of D (at any depth)?  Its
 * destruction must then be refused: the call running the hook still
 * uses D when the hook returns. */
int reclaim_in_free_hook(const cmodx_domain *d);

/* Child after fork, only thread (D's locks held): forget the hooks that
 * other threads were running (they do not exist here). */
void reclaim_after_fork(cmodx_domain *d);

/* Under D's writer lock: has every thread passed a quiescent state since
 * MARK (D's gp_seq read earlier under the lock), i.e. has a grace period
 * begun after MARK completed?  If not, run one and wait for it, bounded
 * by grace_timeout_ms.  0, ETIMEDOUT or a membarrier's errno (cmodx_fail
 * called with WHO). */
int reclaim_quiesced_since_locked(cmodx_domain *d, uint64_t mark, const char *who);

/* Domain destruction: one last bounded grace period, then free. */
void reclaim_teardown(cmodx_domain *d);

#endif
