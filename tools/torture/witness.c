/*
 * tools/torture/witness.c - watch the signal strategy keep its promise.
 *
 * The signal strategy promises that when a publish returns, every thread
 * that was online throughout has run the domain's signal handler (which
 * context-synchronises it).  Instruction fetch cannot be observed, but the
 * handler running can: the tool wraps the library's handler with one that
 * counts deliveries per caller, then calls the library's.  A writer
 * compares each caller's count before and after every publish; a caller
 * that stayed online and was not signalled is an invalid observation,
 * on any architecture (this is how torture sees no_signal_ack_wait).
 *
 * Callers bracket going offline with a generation counter: odd = online.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "torture.h"

static struct sigaction library_action;
static __thread uint64_t *tls_count;
static int wrapped;

static void counting_handler(int sig, siginfo_t *info, void *uc)
{
    /* Count first: the library's handler acknowledges (release), and the
     * writer reads our count only after it saw the acknowledgement. */
    uint64_t *c = tls_count;
    if (c)
        __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
    if (library_action.sa_flags & SA_SIGINFO)
        library_action.sa_sigaction(sig, info, uc);
    else if (library_action.sa_handler != SIG_DFL && library_action.sa_handler != SIG_IGN)
        library_action.sa_handler(sig);
}

int witness_install(int sig)
{
    if (cmodx_domain_strategy(T.dom) != CMODX_SYNC_SIGNAL)
        return 0;
    struct sigaction sa;
    if (sigaction(sig, NULL, &library_action) != 0)
        return -1;
    sa = library_action;
    sa.sa_flags |= SA_SIGINFO;
    sa.sa_sigaction = counting_handler;
    if (sigaction(sig, &sa, NULL) != 0)
        return -1;
    wrapped = 1;
    return 0;
}

void witness_thread_start(struct counters *c)
{
    tls_count = &c->signals;
}

/* Online/offline transitions of the calling caller (see the header). */
void witness_online(struct counters *c)
{
    __atomic_add_fetch(&c->online_gen, 1, __ATOMIC_SEQ_CST);
}

void witness_offline(struct counters *c)
{
    __atomic_add_fetch(&c->online_gen, 1, __ATOMIC_SEQ_CST);
}

void witness_before(struct witness *w)
{
    if (!wrapped)
        return;
    for (int i = 0; i < T.opt.callers; i++) {
        w->gen[i] = __atomic_load_n(&T.thr[i].online_gen, __ATOMIC_SEQ_CST);
        w->count[i] = __atomic_load_n(&T.thr[i].signals, __ATOMIC_ACQUIRE);
    }
}

/* After a publish returned: every caller online throughout was signalled. */
void witness_after(const struct witness *w, int slot, uint64_t version, struct counters *c)
{
    if (!wrapped)
        return;
    for (int i = 0; i < T.opt.callers; i++) {
        uint64_t n = __atomic_load_n(&T.thr[i].signals, __ATOMIC_ACQUIRE);
        uint64_t g = __atomic_load_n(&T.thr[i].online_gen, __ATOMIC_SEQ_CST);
        if (g == w->gen[i] && (g & 1) && n == w->count[i]) {
            note_invalid(c);
            if (__atomic_fetch_add(&T.reported, 1, __ATOMIC_RELAXED) < 10)
                fprintf(stderr, "cmodx-torture: INVALID: publish of slot %d version %llu "
                        "returned before caller %d (online throughout) ran the "
                        "synchronisation signal's handler\n", slot,
                        (unsigned long long)version, i);
        }
    }
}
