/*
 * src/slot/batch.c - batches: slot switches collected, then published as
 * one (src/slot/publish.c), with one cross-thread synchronisation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "base/base.h"
#include "slot/publish.h"
#include "thread/thread.h"

struct cmodx_batch {
    cmodx_domain *domain;
    struct entry *e;
    size_t n, cap;
};

int cmodx_batch_begin(cmodx_domain *d, cmodx_batch **out)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_batch_begin");
    if (out)
        *out = NULL; /* defined and unusable until success */
    if (!d || !out)
        return cmodx_fail(EINVAL, "cmodx_batch_begin: NULL %s", d ? "out" : "domain");
    cmodx_batch *b = calloc(1, sizeof *b);
    if (!b)
        return cmodx_fail(ENOMEM, "cmodx_batch_begin: out of memory");
    b->domain = d;
    /* cmodx_domain_destroy refuses while a batch is open (its commit
     * would use the freed domain). */
    __atomic_add_fetch(&d->open_batches, 1, __ATOMIC_RELAXED);
    *out = b;
    return 0;
}

int cmodx_batch_add(cmodx_batch *b, cmodx_slot *slot, cmodx_xptr code, size_t len,
                    unsigned flags)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_batch_add");
    if (!b)
        return cmodx_fail(EINVAL, "cmodx_batch_add: NULL batch");
    struct entry e = {slot, code, len, flags, {NULL}, 0, NULL, {NULL}, 0, {NULL}};
    int err = publish_validate(b->domain, &e, 1);
    if (err)
        return err;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct entry *ne = realloc(b->e, cap * sizeof *ne);
        if (!ne)
            return cmodx_fail(ENOMEM, "cmodx_batch_add: out of memory");
        b->e = ne;
        b->cap = cap;
    }
    b->e[b->n++] = e;
    return 0;
}

void cmodx_batch_abort(cmodx_batch *b)
{
    if (!b || fork_unusable_quiet()) /* src/base/fork.c: nothing is touched there */
        return;
    __atomic_sub_fetch(&b->domain->open_batches, 1, __ATOMIC_RELEASE);
    free(b->e);
    free(b);
}

int cmodx_batch_commit(cmodx_batch *b, cmodx_xptr *old_targets)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_batch_commit");
    if (!b)
        return cmodx_fail(EINVAL, "cmodx_batch_commit: NULL batch");
    cmodx_domain *d = b->domain;
    int err = 0;
    if (b->n) {
        struct thread_rec *t = writer_enter(d);
        err = publish_commit_locked(d, b->e, b->n, old_targets);
        writer_leave(d, t);
    }
    /* On failure nothing was switched: every old target reads NULL
     * (defined and unusable), not whatever the caller's array held. */
    if (err && old_targets)
        for (size_t i = 0; i < b->n; i++)
            old_targets[i].ptr = NULL;
    cmodx_batch_abort(b);
    return err;
}
