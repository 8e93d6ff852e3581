/*
 * src/strategy/mprotect.c - the mprotect strategy (x86-64 only).
 *
 * Guarantee: when before_switch returns 0, every CPU that ran a thread of
 * the process has taken an interrupt after the writer's maintenance, and
 * returned from it with IRET, which is serialising.
 *
 * Ordering: reducing a touched page's permissions makes the kernel shoot
 * down its TLB entries on every CPU that runs this process, by IPI on
 * x86, and wait for them before mprotect() returns.  The page is made
 * writable, touched (so that every CPU may cache it), and made
 * inaccessible again.  On AArch64 and RISC-V the shootdown is a broadcast
 * instruction without an interrupt, and on x86-64 too with AMD's INVLPGB
 * (Linux 6.15 and later) or a hypervisor's paravirtual flush that skips
 * preempted vCPUs: setup refuses wherever the premise cannot be
 * established (arch_mprotect_unfit), and CMODX_SYNC_AUTO never picks this
 * strategy.  Under a lock: concurrent calls would race on the page's
 * protection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/arch.h"
#include "base/base.h"
#include "strategy/strategy.h"
#include "thread/thread.h"

/* A leaf, taken by a publish (parked, cancellation disabled) around two
 * mprotect() calls: never held while waiting for another thread, and
 * mprotect is no cancellation point (test_rel2 cancelpend). */
static pthread_mutex_t mprotect_lock = PTHREAD_MUTEX_INITIALIZER;

static int mprotect_setup(cmodx_domain *d, const struct cmodx_domain_config *cfg)
{
    (void)cfg;
    const char *why = MUTANT(mprotect_trust_tlb) ? NULL : arch_mprotect_unfit();
    if (why)
        return cmodx_fail(ENOTSUP, "mprotect strategy refused on %s: %s, so mprotect() does "
                          "not context-synchronise other cores (docs/STRATEGIES.md)",
                          cmodx_arch_id, why);
    d->mprotect_page = mmap(NULL, cmodx_page_size(), PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (d->mprotect_page == MAP_FAILED) {
        d->mprotect_page = NULL;
        return cmodx_fail(ENOMEM, "mprotect strategy: cannot map its page");
    }
    return 0;
}

static void mprotect_teardown(cmodx_domain *d)
{
    if (d->mprotect_page)
        munmap(d->mprotect_page, cmodx_page_size());
    d->mprotect_page = NULL;
}

static int mprotect_before_switch(cmodx_domain *d)
{
    pthread_mutex_lock(&mprotect_lock);
    int err = 0;
    if (mprotect(d->mprotect_page, cmodx_page_size(), PROT_READ | PROT_WRITE) != 0)
        err = errno;
    if (!err) {
        __atomic_fetch_add((volatile int *)d->mprotect_page, 1, __ATOMIC_SEQ_CST);
        if (mprotect(d->mprotect_page, cmodx_page_size(), PROT_NONE) != 0)
            err = errno;
    }
    pthread_mutex_unlock(&mprotect_lock);
    if (err)
        return cmodx_fail(err, "mprotect strategy: mprotect failed: %s", strerror(err));
    return 0;
}

const struct strategy_ops strategy_mprotect = {
    .id = CMODX_SYNC_MPROTECT,
    .name = "mprotect",
    .setup = mprotect_setup,
    .teardown = mprotect_teardown,
    .before_switch = mprotect_before_switch,
    .syncs_now = 1,
};
