/*
 * src/base/xfsz.c - SIGXFSZ around the library's own file growth and
 * writes (xfsz.h says why).
 *
 * The kernel sends SIGXFSZ to the thread whose write or ftruncate would
 * pass RLIMIT_FSIZE (a thread-directed signal) and fails the call with
 * EFBIG.  Blocked in that thread, the signal is left pending and the call
 * returns: the library then takes that one signal back (sigtimedwait
 * dequeues the thread's own pending signals before the process's), so
 * that restoring the mask does not deliver it.  Standard signals do not
 * queue: had a SIGXFSZ been pending already, the kernel's would have
 * merged with it, so then nothing is consumed and the program's signal
 * stays as it was.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include "base/xfsz.h"

static void xfsz_set(sigset_t *s)
{
    sigemptyset(s);
    sigaddset(s, SIGXFSZ);
}

void xfsz_block(struct xfsz_guard *g)
{
    sigset_t s, pend;
    xfsz_set(&s);
    pthread_sigmask(SIG_BLOCK, &s, &g->old);
    g->was_pending = sigpending(&pend) == 0 && sigismember(&pend, SIGXFSZ) == 1;
}

void xfsz_restore(struct xfsz_guard *g, int err)
{
    sigset_t s, pend;
    xfsz_set(&s);
    if (err == EFBIG && !g->was_pending && sigpending(&pend) == 0 &&
        sigismember(&pend, SIGXFSZ) == 1) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&s, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

unsigned long long xfsz_limit(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_FSIZE, &r) != 0 || r.rlim_cur == RLIM_INFINITY)
        return 0;
    return (unsigned long long)r.rlim_cur;
}
