/*
 * src/slot/publish.h - the publish protocol, shared by single publishes
 * and batches (the slot layer's own interface).
 */
#ifndef CMODX_SRC_SLOT_PUBLISH_H
#define CMODX_SRC_SLOT_PUBLISH_H

#include <stddef.h>

#include "thread/thread.h"

/* One slot switch of a publish or batch. */
struct entry {
    cmodx_slot *slot;
    cmodx_xptr code;
    size_t len;
    unsigned flags;
};

/* Check E[0..N) against D: 0 or EINVAL with cmodx_fail() called. */
int publish_validate(cmodx_domain *d, const struct entry *e, size_t n);

/* Publish E[0..N) as one batch, under D's writer lock (publish.c gives the
 * steps).  OLD, if not NULL, receives each slot's previous target.  0, or
 * an errno from a step before any switch: then nothing was switched. */
int publish_commit_locked(cmodx_domain *d, const struct entry *e, size_t n, cmodx_xptr *old);

#endif
