/*
 * src/thread/fences.c - the process-wide fences a domain uses: membarrier,
 * probed and registered once per domain.
 *
 * Two commands serve two purposes.  PRIVATE_EXPEDITED_SYNC_CORE makes
 * every thread of the process execute a core-serialising instruction
 * (ISB / fence.i / IRET) before it returns: the membarrier strategy's
 * cross-thread step (src/strategy/membarrier.c).  PRIVATE_EXPEDITED is a
 * full memory barrier on every running thread, without the serialisation:
 * the writer's half of reclamation's asymmetric fences (reclaim.c), unless
 * the domain asked for symmetric fences.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/membarrier.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "base/base.h"
#include "thread/thread.h"

static int membarrier(int cmd, unsigned flags)
{
    return (int)syscall(__NR_membarrier, cmd, flags, 0);
}

void fences_probe(cmodx_domain *d)
{
    d->sync_core = d->asym_fences = 0;
    if (cmodx_fault_active(CMODX_FAULT_MEMBARRIER))
        return;
    int mask = membarrier(MEMBARRIER_CMD_QUERY, 0);
    if (mask < 0)
        return;
    if ((mask & MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) &&
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0) == 0)
        d->sync_core = 1;
    if (!d->symmetric_fences && (mask & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0)
        d->asym_fences = 1;
}

void fences_after_fork(cmodx_domain *d)
{
    if (d->sync_core)
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0);
    if (d->asym_fences)
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0);
}

/* A command issued after registration may still fail: a seccomp filter
 * installed later, or ENOMEM.  The callers fail with the error; none falls
 * back to something weaker (docs/RECLAMATION.md). */
static int late_fault(void)
{
    return cmodx_fault_active(CMODX_FAULT_MEMBARRIER_LATER) ? ENOMEM : 0;
}

int fences_sync_core(void)
{
    if (late_fault())
        return late_fault();
    if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0) != 0)
        return errno;
    return 0;
}

int fences_membarrier(cmodx_domain *d)
{
    /* Memory ordering is all reclamation needs: no core serialisation. */
    int cmd = d->asym_fences ? MEMBARRIER_CMD_PRIVATE_EXPEDITED
                             : MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE;
    if (late_fault())
        return late_fault();
    if (membarrier(cmd, 0) != 0)
        return errno;
    return 0;
}
