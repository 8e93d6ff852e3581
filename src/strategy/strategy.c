/*
 * src/strategy/strategy.c - the strategies' registration table, their
 * names, the choice of a domain's strategy, and what every strategy's
 * cross-thread step shares.  The strategies themselves are one file each
 * (membarrier.c, signal.c, epoch.c, trampoline.c, mprotect.c);
 * docs/STRATEGIES.md compares them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "strategy/strategy.h"
#include "thread/thread.h"

/* The registration table: adding a strategy adds its enum value in
 * include/cmodx/slot.h and its line here.  No gaps: programs enumerate
 * the strategies from 1 up to the first cmodx_strategy_name() that is
 * "unknown" (the tools do), so every value from 1 to the last has an
 * entry. */
static const struct strategy_ops *const strategies[] = {
    [CMODX_SYNC_MEMBARRIER] = &strategy_membarrier,
    [CMODX_SYNC_SIGNAL] = &strategy_signal,
    [CMODX_SYNC_EPOCH] = &strategy_epoch,
    [CMODX_SYNC_TRAMPOLINE] = &strategy_trampoline,
    [CMODX_SYNC_MPROTECT] = &strategy_mprotect,
};

#define NSTRATEGIES (sizeof strategies / sizeof strategies[0])

static const struct strategy_ops *ops_of(unsigned s)
{
    return s < NSTRATEGIES ? strategies[s] : NULL;
}

int strategy_known(enum cmodx_strategy s)
{
    return s == CMODX_SYNC_AUTO || ops_of((unsigned)s) != NULL;
}

const char *cmodx_strategy_name(enum cmodx_strategy s)
{
    if (s == CMODX_SYNC_AUTO)
        return "auto";
    const struct strategy_ops *o = ops_of((unsigned)s);
    return o ? o->name : "unknown";
}

int cmodx_strategy_parse(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "auto") == 0)
        return CMODX_SYNC_AUTO;
    for (unsigned i = 0; i < NSTRATEGIES; i++)
        if (strategies[i] && strcmp(name, strategies[i]->name) == 0)
            return (int)i;
    return -1;
}

char *strategy_names(char *buf, size_t len)
{
    size_t at = 0;
    if (len)
        buf[0] = '\0';
    for (unsigned i = 1; i <= NSTRATEGIES; i++) {
        const char *name = i < NSTRATEGIES ? (strategies[i] ? strategies[i]->name : NULL) : "auto";
        if (!name)
            continue;
        int n = snprintf(buf + at, at < len ? len - at : 0, "%s%s", at ? ", " : "", name);
        if (n > 0)
            at += (size_t)n;
    }
    return buf;
}

/* ---- selection ------------------------------------------------------------------- */

static int pick_requested(const struct cmodx_domain_config *cfg, enum cmodx_strategy *out)
{
    *out = cfg->strategy;
    if (*out != CMODX_SYNC_AUTO)
        return 0;
    const char *env = getenv("CMODX_STRATEGY");
    if (env && *env) {
        int s = cmodx_strategy_parse(env);
        if (s < 0) {
            char names[128];
            return cmodx_fail(EINVAL, "CMODX_STRATEGY=%s: unknown (%s)", env,
                              strategy_names(names, sizeof names));
        }
        *out = (enum cmodx_strategy)s;
    }
    return 0;
}

static int use(cmodx_domain *d, const struct cmodx_domain_config *cfg, enum cmodx_strategy s)
{
    d->strategy = s;
    d->ops = ops_of((unsigned)s);
    /* The strategy's contract with cmodx_thread_online() (thread.c). */
    d->online_fence = d->ops->online_fence;
    int err = d->ops->setup ? d->ops->setup(d, cfg) : 0;
    if (err && d->ops->teardown)
        d->ops->teardown(d);
    return err;
}

int strategy_select(cmodx_domain *d, const struct cmodx_domain_config *cfg)
{
    enum cmodx_strategy s;
    int err = pick_requested(cfg, &s);
    if (err)
        return err;
    fences_probe(d);
    if (s != CMODX_SYNC_AUTO)
        return use(d, cfg, s);
    /* Automatic: membarrier, else signal (if its signal is free), else
     * epoch, which needs nothing from the system. */
    if (d->sync_core)
        return use(d, cfg, CMODX_SYNC_MEMBARRIER);
    if (use(d, cfg, CMODX_SYNC_SIGNAL) == 0)
        return 0;
    return use(d, cfg, CMODX_SYNC_EPOCH);
}

/* ---- the cross-thread step ------------------------------------------------------------ */

int strategy_before_switch(cmodx_domain *d)
{
    if (MUTANT(no_cross_thread_sync))
        return 0;
    int err = d->ops->before_switch ? d->ops->before_switch(d) : 0;
    if (!err)
        d->stats.syncs++;
    return err;
}
