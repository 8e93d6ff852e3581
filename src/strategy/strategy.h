/*
 * src/strategy/strategy.h - the operations table every synchronisation
 * strategy fills in, one file per strategy (modelled on liburcu's flavour
 * table, include/urcu/flavor.h).
 *
 * The problem every strategy solves: after the writer made new code
 * visible to instruction fetch (src/arch/: cache maintenance and its own
 * context synchronisation), other threads may still hold old instructions
 * in their pipelines.  Each must pass a context synchronisation event
 * after that maintenance completed and before it runs the new code.  A
 * strategy says who pays and when.  The publish protocol that calls these
 * operations, and in which order, is in src/slot/publish.c:
 *
 *   1. make every new block visible (arch), writer context-synchronises;
 *   2. ops->before_switch: the cross-thread step, may fail (then nothing
 *      is switched);
 *   3. every slot switched by a release store;
 *   4. ops->after_switch for each slot;
 *   5. replaced blocks retired (src/thread/reclaim.c).
 *
 * Each strategy's file starts with its guarantee and its ordering
 * argument.  The caller's side (how a caller loads a target) is inline in
 * the public header include/cmodx/slot.h, chosen by the strategy id that
 * registration copies into every thread's fast record; a strategy that
 * needs a caller-side resynchronisation defines it in its own file
 * (cmodx_epoch_resync; the trampoline's tramp_resync, which its stubs
 * call).
 */
#ifndef CMODX_SRC_STRATEGY_STRATEGY_H
#define CMODX_SRC_STRATEGY_STRATEGY_H

#include "thread/thread.h"

struct strategy_ops {
    enum cmodx_strategy id;
    const char *name;

    /* Domain creation, after fences_probe(): take what the strategy needs
     * from CFG (its own fields and their defaults: the signal strategy's
     * signal_number, for one).  0, or an errno with cmodx_fail() called:
     * the strategy cannot work here.  Teardown must also undo a setup that
     * failed half-way.  NULL: nothing to do. */
    int (*setup)(cmodx_domain *d, const struct cmodx_domain_config *cfg);
    void (*teardown)(cmodx_domain *d);

    /* Thread registration, under D's writer lock (no slot is created
     * meanwhile); fini when the record is freed (unregister, thread exit,
     * fork child).  NULL: nothing to do.  Going online needs nothing
     * strategy-specific: every thread context-synchronises then
     * (src/thread/thread.c). */
    int (*thread_init)(cmodx_domain *d, struct thread_rec *t);
    void (*thread_fini)(cmodx_domain *d, struct thread_rec *t);

    /* cmodx_slot_init / cmodx_slot_fini, under D's writer lock.  NULL:
     * nothing to do. */
    int (*slot_init)(cmodx_domain *d, cmodx_slot *s);
    void (*slot_fini)(cmodx_domain *d, cmodx_slot *s);

    /* Publish, step 2, under D's writer lock: the cross-thread step.  0 or
     * an errno with cmodx_fail() called.  NULL: nothing to do. */
    int (*before_switch)(cmodx_domain *d);
    /* Publish, step 4, for each switched slot.  NULL: nothing to do. */
    void (*after_switch)(cmodx_domain *d, cmodx_slot *s);
    /* cmodx_sync_others(), after before_switch: what after_switch does,
     * for every slot of D.  NULL: nothing to do. */
    void (*after_sync_all)(cmodx_domain *d);

    /* before_switch is also a full memory barrier on every thread
     * (reclamation counts it as its fence). */
    int fences_on_publish;

    /* before_switch context-synchronises, before it returns, every thread
     * that may run the domain's code (membarrier: every thread of the
     * process; signal: every registered online thread; mprotect: every CPU
     * running the process), rather than arranging for each to do so at its
     * next call through a slot.  Code patched in place (src/patch/) is
     * reached by direct branches that pass no slot: only these strategies
     * can patch it. */
    int syncs_now;

    /* Set when before_switch (or anything else of the strategy) reads
     * thread states to decide whom to synchronise without a membarrier
     * between the writer's maintenance and that read (the signal
     * strategy: a plain fence): a thread coming online must then make a
     * store-load fence of its own, or the writer may read it offline while
     * its context synchronisation ran before the maintenance completed.
     * strategy_select() copies it to d->online_fence, which
     * cmodx_thread_online() reads (src/thread/thread.c, the argument above
     * it).  A strategy that reads thread states only after a membarrier,
     * or never, leaves it 0. */
    int online_fence;
};

/* One table per strategy, in its own file.  The registration table
 * (strategy.c) numbers them 1, 2, ... without gaps, as enum
 * cmodx_strategy does: programs list the strategies of a build by
 * cmodx_strategy_name() from 1 up to the first "unknown". */
extern const struct strategy_ops strategy_membarrier, strategy_signal, strategy_epoch,
    strategy_trampoline, strategy_mprotect;

/*
 * strategy_select - choose and set up D's strategy (strategy.c)
 *
 *   CFG->strategy if not AUTO, else CMODX_STRATEGY from the environment,
 *   else membarrier, signal or epoch, the first that sets up.  Sets
 *   d->ops and d->strategy.  On failure the chosen strategy's teardown has
 *   run.  Probes the process-wide fences first (fences_probe).
 */
int strategy_select(cmodx_domain *d, const struct cmodx_domain_config *cfg);

/* The names of every strategy, AUTO last, separated by ", ", into BUF of
 * LEN bytes (truncated if too small); BUF. */
char *strategy_names(char *buf, size_t len);

/* Is S a strategy (AUTO included) this library has? */
int strategy_known(enum cmodx_strategy s);

/* Publish step 2 for every strategy: the mutation switch, the count. */
int strategy_before_switch(cmodx_domain *d);

#endif
