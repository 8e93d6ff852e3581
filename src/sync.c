/*
 * src/sync.c - cross-thread synchronisation strategies.
 *
 * After the writer made new code visible to instruction fetch (cache
 * maintenance, src/arch/), other threads may still hold old instructions
 * in their pipelines: each must pass a context synchronisation event after
 * that maintenance completed and before it runs the new code.  The
 * strategies differ in who pays and when; docs/STRATEGIES.md compares them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "arch/arch.h"
#include "domain.h"
#include "internal.h"

static const char *const strategy_names[] = {
    [CMODX_SYNC_AUTO] = "auto",           [CMODX_SYNC_MEMBARRIER] = "membarrier",
    [CMODX_SYNC_SIGNAL] = "signal",       [CMODX_SYNC_EPOCH] = "epoch",
    [CMODX_SYNC_TRAMPOLINE] = "trampoline", [CMODX_SYNC_MPROTECT] = "mprotect",
};

const char *cmodx_strategy_name(enum cmodx_strategy s)
{
    if ((unsigned)s < sizeof strategy_names / sizeof strategy_names[0])
        return strategy_names[s];
    return "unknown";
}

int cmodx_strategy_parse(const char *name)
{
    for (unsigned i = 0; name && i < sizeof strategy_names / sizeof strategy_names[0]; i++)
        if (strcmp(name, strategy_names[i]) == 0)
            return (int)i;
    return -1;
}

/* ---- membarrier ----------------------------------------------------------- */

static int membarrier(int cmd, unsigned flags)
{
    return (int)syscall(__NR_membarrier, cmd, flags, 0);
}

/* Query once per domain and register what we use.  Registration is per
 * process (mm) and idempotent. */
static void membarrier_probe(cmodx_domain *d)
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

int sync_reregister_after_fork(cmodx_domain *d)
{
    if (d->sync_core)
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0);
    if (d->asym_fences)
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0);
    return 0;
}

/* A full memory barrier on every running thread of the process (and on
 * the others before they return to user space): the writer's half of the
 * asymmetric fences used by reclamation. */
int membarrier_fence(cmodx_domain *d)
{
    /* Memory ordering is all reclamation needs: no core serialisation. */
    int cmd = d->asym_fences ? MEMBARRIER_CMD_PRIVATE_EXPEDITED
                             : MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE;
    if (membarrier(cmd, 0) != 0)
        return errno;
    return 0;
}

/* ---- signal ----------------------------------------------------------------- */

/* Process-wide: which signals carry our handler, and how many domains use
 * each (domains may share one signal). */
static pthread_mutex_t signal_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int users;
    struct sigaction previous;
} signal_use[_NSIG];

static void sync_signal_handler(int sig, siginfo_t *info, void *uc)
{
    (void)info, (void)uc;
    int saved = errno;
    /* Context-synchronise this thread; only then acknowledge (program
     * order: the writer switches the slot after seeing the ack). */
    if (!MUTANT(no_signal_handler_sync))
        arch_context_sync();
    thread_ack_signal(sig);
    errno = saved;
}

static int signal_install(cmodx_domain *d, int sig)
{
    if (sig <= 0 || sig >= _NSIG || sig == SIGKILL || sig == SIGSTOP)
        return cmodx_fail(EINVAL, "cmodx_domain_create: invalid signal number %d", sig);
    pthread_mutex_lock(&signal_lock);
    int err = 0;
    if (signal_use[sig].users == 0) {
        struct sigaction cur;
        sigaction(sig, NULL, &cur);
        int has_handler = (cur.sa_flags & SA_SIGINFO) ? cur.sa_sigaction != NULL
                                                      : (cur.sa_handler != SIG_DFL &&
                                                         cur.sa_handler != SIG_IGN);
        if (has_handler) {
            err = cmodx_fail(EBUSY, "cmodx_domain_create: signal %d already has a handler; "
                             "refusing to replace it (set signal_number to a free signal)", sig);
        } else {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_sigaction = sync_signal_handler;
            /* SA_RESTART: system calls the signal interrupts in callers are
             * restarted, so callers never see EINTR because of us. */
            sa.sa_flags = SA_SIGINFO | SA_RESTART;
            sigemptyset(&sa.sa_mask);
            if (sigaction(sig, &sa, &signal_use[sig].previous) != 0)
                err = cmodx_fail(errno, "cmodx_domain_create: sigaction(%d): %s", sig,
                                 strerror(errno));
        }
    }
    if (!err) {
        signal_use[sig].users++;
        d->signal_number = sig;
        d->signal_installed = 1;
    }
    pthread_mutex_unlock(&signal_lock);
    return err;
}

static void signal_uninstall(cmodx_domain *d)
{
    if (!d->signal_installed)
        return;
    int sig = d->signal_number;
    pthread_mutex_lock(&signal_lock);
    if (--signal_use[sig].users == 0)
        sigaction(sig, &signal_use[sig].previous, NULL);
    pthread_mutex_unlock(&signal_lock);
    d->signal_installed = 0;
}

/* Only threads signalled in this round are waited for: one that was
 * offline then synchronises itself when it comes back online. */
static int acked(const struct thread_rec *t, uint64_t seq)
{
    return t->sig_sent != seq || __atomic_load_n(&t->state, __ATOMIC_ACQUIRE) != T_ONLINE ||
           __atomic_load_n(&t->sig_ack, __ATOMIC_ACQUIRE) >= seq;
}

/* Signal every other online thread and wait, bounded, for each ack.
 * Holds reg_lock throughout: exiting threads wait (with signals
 * deliverable) instead of disappearing under us. */
static int sync_by_signal(cmodx_domain *d)
{
    struct thread_rec *self = thread_find(d);
    uint64_t seq = __atomic_add_fetch(&d->sig_seq, 1, __ATOMIC_SEQ_CST);
    pid_t pid = getpid();
    pthread_mutex_lock(&d->reg_lock);
    /* Pairs with the fence in cmodx_thread_online(): a thread we see
     * offline synchronises itself when it comes back. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (struct thread_rec *t = d->threads; t; t = t->next)
        if (t != self && __atomic_load_n(&t->state, __ATOMIC_ACQUIRE) == T_ONLINE) {
            t->sig_sent = seq;
            syscall(SYS_tgkill, pid, t->tid, d->signal_number);
        }
    int err = 0;
    if (!MUTANT(no_signal_ack_wait)) {
        uint64_t deadline = cmodx_now_ns() + (uint64_t)d->signal_timeout_ms * 1000000u;
        struct timespec nap = {0, 20000};
        for (struct thread_rec *t = d->threads; t && !err; t = t->next) {
            while (t != self && !acked(t, seq)) {
                if (cmodx_now_ns() > deadline) {
                    err = cmodx_fail(ETIMEDOUT, "signal strategy: thread %d did not acknowledge "
                                     "signal %d within %u ms (signal blocked, or stopped?)",
                                     (int)t->tid, d->signal_number, d->signal_timeout_ms);
                    break;
                }
                nanosleep(&nap, NULL);
            }
        }
    }
    pthread_mutex_unlock(&d->reg_lock);
    return err;
}

/* ---- mprotect (x86-64 only) ------------------------------------------------------ */

/* Reducing a touched page's permissions makes the kernel shoot down its
 * TLB entries on every CPU that runs this process, by IPI on x86; the
 * interrupt's return is serialising.  Under a lock: concurrent calls
 * would race on the page's protection. */
static pthread_mutex_t mprotect_lock = PTHREAD_MUTEX_INITIALIZER;

static int sync_by_mprotect(cmodx_domain *d)
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

/* ---- the step itself -------------------------------------------------------------- */

int sync_others_locked(cmodx_domain *d)
{
    if (MUTANT(no_cross_thread_sync))
        return 0;
    int err = 0;
    switch (d->strategy) {
    case CMODX_SYNC_MEMBARRIER:
        /* Every thread of the process has executed a core-serialising
         * instruction (ISB / fence.i / IRET) when this returns; it is also
         * a full memory barrier, so it counts as the reclamation fence. */
        if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0) != 0)
            return cmodx_fail(errno, "membarrier(SYNC_CORE) failed: %s", strerror(errno));
        reclaim_note_fence(d);
        break;
    case CMODX_SYNC_SIGNAL:
        err = sync_by_signal(d);
        break;
    case CMODX_SYNC_EPOCH:
        /* Release: the maintenance (completed by its DSB) is ordered before
         * the new epoch; the slot store that follows is ordered after it.
         * Callers pair with cmodx_slot_target_epoch(). */
        if (!MUTANT(no_epoch_bump))
            __atomic_add_fetch(&d->epoch, 1, __ATOMIC_RELEASE);
        break;
    case CMODX_SYNC_MPROTECT:
        err = sync_by_mprotect(d);
        break;
    case CMODX_SYNC_TRAMPOLINE: /* done per slot, after the switch: slot.c */
    case CMODX_SYNC_AUTO:
        break;
    }
    if (!err)
        d->stats.syncs++;
    return err;
}

int cmodx_sync_others(cmodx_domain *d)
{
    if (!d)
        return cmodx_fail(EINVAL, "cmodx_sync_others: NULL domain");
    pthread_mutex_lock(&d->writer_lock);
    int err = sync_others_locked(d);
    if (!err && d->strategy == CMODX_SYNC_TRAMPOLINE)
        for (uint32_t id = 0; id < d->tramp_next_id; id++)
            if (d->tramp_slots[id])
                tramp_redirect_all(d, d->tramp_slots[id]);
    pthread_mutex_unlock(&d->writer_lock);
    return err;
}

/* ---- selection --------------------------------------------------------------------- */

static int pick_requested(const struct cmodx_domain_config *cfg, enum cmodx_strategy *out)
{
    *out = cfg->strategy;
    if (*out != CMODX_SYNC_AUTO)
        return 0;
    const char *env = getenv("CMODX_STRATEGY");
    if (env && *env) {
        int s = cmodx_strategy_parse(env);
        if (s < 0)
            return cmodx_fail(EINVAL, "CMODX_STRATEGY=%s: unknown (membarrier, signal, epoch, "
                              "trampoline, mprotect, auto)", env);
        *out = (enum cmodx_strategy)s;
    }
    return 0;
}

static int setup_strategy(cmodx_domain *d, enum cmodx_strategy s, int sig)
{
    switch (s) {
    case CMODX_SYNC_MEMBARRIER:
        if (!d->sync_core)
            return cmodx_fail(ENOSYS, "membarrier PRIVATE_EXPEDITED_SYNC_CORE is not available "
                              "(kernel older than 4.16, architecture, seccomp, or injected)");
        break;
    case CMODX_SYNC_SIGNAL:
        return signal_install(d, sig);
    case CMODX_SYNC_MPROTECT:
        if (!arch_mprotect_ipi_serialises())
            return cmodx_fail(ENOTSUP, "mprotect strategy refused on %s: TLB invalidation is "
                              "broadcast in hardware there, without an interrupt, so it does not "
                              "context-synchronise other cores", cmodx_arch_id);
        d->mprotect_page = mmap(NULL, cmodx_page_size(), PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (d->mprotect_page == MAP_FAILED) {
            d->mprotect_page = NULL;
            return cmodx_fail(ENOMEM, "mprotect strategy: cannot map its page");
        }
        break;
    case CMODX_SYNC_TRAMPOLINE:
        return tramp_setup(d);
    case CMODX_SYNC_EPOCH:
    case CMODX_SYNC_AUTO:
        break;
    }
    return 0;
}

int sync_select(cmodx_domain *d, const struct cmodx_domain_config *cfg)
{
    enum cmodx_strategy s;
    int err = pick_requested(cfg, &s);
    if (err)
        return err;
    membarrier_probe(d);
    int sig = cfg->signal_number ? cfg->signal_number : SIGRTMIN + 4;
    if (s != CMODX_SYNC_AUTO) {
        d->strategy = s;
        return setup_strategy(d, s, sig);
    }
    /* Automatic: membarrier, else signal (if its signal is free), else
     * epoch, which needs nothing from the system. */
    if (d->sync_core) {
        d->strategy = CMODX_SYNC_MEMBARRIER;
        return 0;
    }
    d->strategy = CMODX_SYNC_SIGNAL;
    if (signal_install(d, sig) == 0)
        return 0;
    d->strategy = CMODX_SYNC_EPOCH;
    return 0;
}

void sync_teardown(cmodx_domain *d)
{
    signal_uninstall(d);
    if (d->mprotect_page)
        munmap(d->mprotect_page, cmodx_page_size());
    d->mprotect_page = NULL;
}
