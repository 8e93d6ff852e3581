/*
 * src/slot/slot.c - slots: initialisation and release.  What a strategy
 * attaches to a slot (the trampoline's id and stub) is its slot_init and
 * slot_fini operations; publishing is in publish.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "base/base.h"
#include "strategy/strategy.h"
#include "thread/thread.h"

/* ---- slots ------------------------------------------------------------------------------ */

int cmodx_slot_init(cmodx_domain *d, cmodx_slot *s, cmodx_xptr initial)
{
    if (!d || !s || !initial.ptr)
        return cmodx_fail(EINVAL, "cmodx_slot_init: NULL %s", !d ? "domain" : !s ? "slot"
                                                                             : "initial target");
    if ((uintptr_t)s % _Alignof(void *))
        return cmodx_fail(EINVAL, "cmodx_slot_init: slot %p is not pointer-aligned", (void *)s);
    memset(s, 0, sizeof *s);
    s->domain = d;
    __atomic_store_n(&s->target, initial.ptr, __ATOMIC_RELEASE);
    if (!d->ops->slot_init)
        return 0;
    pthread_mutex_lock(&d->writer_lock);
    int err = d->ops->slot_init(d, s);
    pthread_mutex_unlock(&d->writer_lock);
    return err;
}

void cmodx_slot_fini(cmodx_slot *s)
{
    if (!s || !s->domain)
        return;
    cmodx_domain *d = s->domain;
    if (d->ops->slot_fini) {
        pthread_mutex_lock(&d->writer_lock);
        d->ops->slot_fini(d, s);
        pthread_mutex_unlock(&d->writer_lock);
    }
    s->domain = NULL;
    s->stub = NULL;
}
