/*
 * src/strategy/membarrier.c - the membarrier strategy.
 *
 * Guarantee: when before_switch returns 0, every thread of the process has
 * executed a core-serialising instruction (ISB on AArch64/ARMv7, fence.i
 * on RISC-V, an IRET-class return on x86-64) after the writer's cache
 * maintenance completed.
 *
 * Ordering: the maintenance ends with DSB ISH (or the cache-flush system
 * call) before membarrier() is entered; the kernel's
 * PRIVATE_EXPEDITED_SYNC_CORE interrupts every CPU running a thread of
 * this process and serialises its core before returning to user space,
 * and a thread not running serialises on its next return to user space
 * (kernel/sched/membarrier.c).  So any fetch of new code by another thread
 * comes after that thread's serialisation, which comes after the
 * maintenance.  The slot switch comes after membarrier() returns; callers
 * need nothing but a plain load.  membarrier is also a full memory
 * barrier on every thread, so it serves as the reclamation fence of the
 * blocks this publish unlinks (reclaim_note_fence).
 *
 * Cost: one system call per publish (or batch), IPIs to the CPUs running
 * the process.  Needs Linux 4.16 and an architecture that implements
 * SYNC_CORE (selection refuses it otherwise).
 */
#include <errno.h>
#include <string.h>

#include "base/base.h"
#include "strategy/strategy.h"
#include "thread/reclaim.h"
#include "thread/thread.h"

static int membarrier_setup(cmodx_domain *d, const struct cmodx_domain_config *cfg)
{
    (void)cfg;
    if (!d->sync_core)
        return cmodx_fail(ENOSYS, "membarrier PRIVATE_EXPEDITED_SYNC_CORE is not available "
                          "(kernel older than 4.16, architecture, seccomp, or injected)");
    return 0;
}

static int membarrier_before_switch(cmodx_domain *d)
{
    int err = fences_sync_core();
    if (err)
        return cmodx_fail(err, "membarrier(SYNC_CORE) failed: %s", strerror(err));
    reclaim_note_fence(d);
    return 0;
}

const struct strategy_ops strategy_membarrier = {
    .id = CMODX_SYNC_MEMBARRIER,
    .name = "membarrier",
    .setup = membarrier_setup,
    .before_switch = membarrier_before_switch,
    .fences_on_publish = 1,
    .syncs_now = 1,
};
