/*
 * src/strategy/signal.c - the signal strategy.
 *
 * Guarantee: when before_switch returns 0, every registered thread that
 * was online when the writer read the thread list has run the handler,
 * which context-synchronised it, after the writer's maintenance; a thread
 * that was offline context-synchronises itself when it comes back online
 * (cmodx_thread_online).
 *
 * Ordering: the writer bumps the domain's signal sequence, then (under the
 * thread list lock, after a seq_cst fence pairing with the one in
 * cmodx_thread_online) sends the signal to every other online thread and
 * waits, bounded by signal_timeout_ms, until each has acknowledged this
 * sequence or gone offline.  The handler context-synchronises first and
 * acknowledges after, with release order; the writer reads the
 * acknowledgement with acquire, and only then switches the slot.  So a
 * thread's fetch of new code comes after its synchronisation, which comes
 * after the maintenance.  The signal's delivery and the handler's return
 * are themselves context-synchronising on AArch64 and ARMv7, which is why
 * the handler's own synchronisation is a mutant that cannot be observed
 * there (docs/MUTATION.md).
 *
 * The handler is installed once per signal number for the process and
 * shared by the domains that use it; a signal that already has a handler
 * is refused.  SA_RESTART keeps callers from seeing EINTR because of us.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "arch/arch.h"
#include "base/base.h"
#include "strategy/strategy.h"
#include "thread/thread.h"

/* Process-wide: which signals carry our handler, and how many domains use
 * each (domains may share one signal). */
/* A leaf: held only around sigaction() and the users count, never while
 * waiting for another thread (so a caller need not park for it), and with
 * no cancellation point inside (sigaction is none: POSIX lists them), so a
 * cancelled thread never leaves it held (test_rel2 cancelpend). */
static pthread_mutex_t signal_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int users;
    struct sigaction previous;
} signal_use[_NSIG];

/* Acknowledge every domain of this thread that uses signal SIG.
 * Async-signal-safe: atomics only. */
static void ack_signal(int sig)
{
    for (struct thread_rec *t = threads_of_self(); t; t = t->tls_next)
        if (t->domain->signal_number == sig)
            __atomic_store_n(&t->sig_ack, __atomic_load_n(&t->domain->sig_seq, __ATOMIC_ACQUIRE),
                             __ATOMIC_RELEASE);
}

static void sync_signal_handler(int sig, siginfo_t *info, void *uc)
{
    (void)info, (void)uc;
    int saved = errno;
    /* Context-synchronise this thread; only then acknowledge (program
     * order: the writer switches the slot after seeing the ack). */
    if (!MUTANT(no_signal_handler_sync))
        arch_context_sync();
    ack_signal(sig);
    errno = saved;
}

/*
 * Which signals may carry the strategy: SIGUSR1, SIGUSR2 and the real-time
 * signals SIGRTMIN..SIGRTMAX, whose only senders are programs.  Every other
 * signal has a meaning the handler would destroy, so it is refused:
 *  - SIGTRAP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS: the kernel sends them
 *    synchronously for a fault (a trap-filled freed block, a seccomp trap);
 *    the handler would return to the faulting instruction, and with SIGTRAP
 *    execution slides over the trap fill into the next block;
 *  - SIGKILL, SIGSTOP: cannot be caught;
 *  - SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGXCPU, SIGXFSZ: they ask
 *    the process to stop (a terminal, a supervisor, abort(), a resource
 *    limit): caught, they would be silently ignored;
 *  - SIGPIPE: sent for a write to a closed pipe; caught, the program no
 *    longer dies there and sees EPIPE it never expected;
 *  - SIGCHLD, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH, SIGIO,
 *    SIGALRM, SIGVTALRM, SIGPROF: job control, children, timers, profilers
 *    and sockets send them, and the program (or its libraries) expects its
 *    own handler or the default;
 *  - 32..SIGRTMIN-1: reserved by the C library (thread cancellation, setxid).
 */
static const char *signal_unfit(int sig)
{
    if (sig <= 0 || sig >= _NSIG)
        return "not a signal number";
    if (sig == SIGUSR1 || sig == SIGUSR2 || (sig >= SIGRTMIN && sig <= SIGRTMAX))
        return NULL;
    switch (sig) {
    case SIGTRAP: case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGSYS:
        return "the kernel sends it synchronously for a fault, which the handler would swallow";
    case SIGKILL: case SIGSTOP:
        return "it cannot be caught";
    case SIGINT: case SIGTERM: case SIGHUP: case SIGQUIT: case SIGABRT: case SIGXCPU:
    case SIGXFSZ: case SIGPIPE:
        return "it asks the process to stop, and caught it would be ignored";
    }
    if (sig > SIGSYS && sig < SIGRTMIN)
        return "reserved by the C library";
    return "job control, children, timers, profilers or sockets send it";
}

/* The signal when the configuration names none (struct
 * cmodx_domain_config's signal_number documents it): a real-time signal,
 * which only programs send (signal_unfit()). */
#define SIGNAL_DEFAULT (SIGRTMIN + 4)

static int signal_setup(cmodx_domain *d, const struct cmodx_domain_config *cfg)
{
    int sig = cfg->signal_number ? cfg->signal_number : SIGNAL_DEFAULT;
    d->signal_timeout_ms = cfg->signal_timeout_ms ? cfg->signal_timeout_ms : 2000;
    const char *why = signal_unfit(sig);
    if (why && !MUTANT(signal_any_number))
        return cmodx_fail(EINVAL, "cmodx_domain_create: signal %d cannot carry the signal "
                          "strategy: %s (use SIGUSR1, SIGUSR2 or SIGRTMIN..SIGRTMAX)", sig, why);
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

static void signal_teardown(cmodx_domain *d)
{
    if (!d->signal_installed)
        return;
    int sig = d->signal_number;
    pthread_mutex_lock(&signal_lock);
    if (--signal_use[sig].users == 0) {
        /* A publish that timed out left the signal pending in a thread
         * that blocks it (the documented ETIMEDOUT case); restored to
         * SIG_DFL it would terminate the process when that thread
         * unblocks it.  Setting SIG_IGN discards every pending instance,
         * in every thread (POSIX, sigaction: "setting a signal action to
         * SIG_IGN for a signal that is pending shall cause the pending
         * signal to be discarded"); no sender is left once the last
         * domain using it is gone.  Then the previous action. */
        if (!MUTANT(signal_keep_pending)) {
            struct sigaction ign;
            memset(&ign, 0, sizeof ign);
            ign.sa_handler = SIG_IGN;
            sigemptyset(&ign.sa_mask);
            sigaction(sig, &ign, NULL);
        }
        sigaction(sig, &signal_use[sig].previous, NULL);
    }
    pthread_mutex_unlock(&signal_lock);
    d->signal_installed = 0;
}

/* A new thread has acknowledged every round so far. */
static int signal_thread_init(cmodx_domain *d, struct thread_rec *t)
{
    t->sig_ack = __atomic_load_n(&d->sig_seq, __ATOMIC_ACQUIRE);
    return 0;
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
static int signal_before_switch(cmodx_domain *d)
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

const struct strategy_ops strategy_signal = {
    .id = CMODX_SYNC_SIGNAL,
    .name = "signal",
    .setup = signal_setup,
    /* The writer reads thread states after a plain fence, not a
     * membarrier: threads coming online must fence too (thread.c). */
    .online_fence = 1,
    .teardown = signal_teardown,
    .thread_init = signal_thread_init,
    .before_switch = signal_before_switch,
    .syncs_now = 1,
};
