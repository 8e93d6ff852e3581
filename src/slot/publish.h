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
    /* Filled by publish_validate() and the switch: the block of D's heap
     * holding CODE (NULL: outside the heap) and its size; the old target. */
    cmodx_xptr block;
    size_t block_size;
    const void *prev;
    cmodx_xptr prev_block; /* the live block of D's heap holding PREV, or NULL */
    int prev_doomed;       /* PREV_BLOCK was left doomed with no slot: retire it */
    cmodx_xptr tblock;     /* the live block of ANY heap holding CODE, or NULL
                            * (static code): the key of the process's index
                            * of targeted blocks (slot.c) */
};

/* The start of the live block of D's heap holding X, or NULL (no heap, X
 * outside it, or not in a live block): the key of the block counts. */
cmodx_xptr slot_block_of(cmodx_domain *d, const void *x);

/* Is S an initialised slot (slot.c)?  Never dereferences S->domain. */
int slot_valid(const cmodx_slot *s);

/* cmodx_slot_init() under D's writer lock (patch/entry.c holds it). */
int slot_init_locked(cmodx_domain *d, cmodx_slot *s, cmodx_xptr initial);

/* cmodx_slot_fini() under its domain's writer lock (patch/entry.c, which
 * discards a record whose slot it initialised). */
void slot_fini_locked(cmodx_slot *s);
/* D is being destroyed: forget its initialised slots (their memory may be
 * reused for new slots); how many there were.  Under D's writer lock. */
size_t slots_forget(const cmodx_domain *d);

/* Check that code at CODE (LEN bytes, 0: at least one) is a code address
 * D's slots may target: not in the write view of D's heap, and, inside its
 * execute view, within one live block (not free space, not a block
 * retired and pending).  The block holding it in *BLOCK and *SIZE, or
 * NULL when CODE is outside D's heap; in *ANY the live block of any heap
 * of the process holding it (D's or another's), NULL for static code.
 * 0 or EINVAL (cmodx_fail() called, naming WHO). */
int code_check(cmodx_domain *d, const char *who, cmodx_xptr code, size_t len, cmodx_xptr *block,
               size_t *size, cmodx_xptr *any);

/* The process's index of targeted blocks (slot.c), around a publish's
 * switches, under the domain's writer lock.  slots_count_new: before any
 * switch, each E[i].TBLOCK gains a slot; 0 or ENOMEM (cmodx_fail()
 * called).  slots_uncount_new: undo it when the publish fails before its
 * switches.  slots_count_switched: after the switches, each slot's entry
 * takes its new block's count over and its old block loses one.  Each
 * O(N), whatever the number of slots. */
int slots_count_new(const struct entry *e, size_t n);
void slots_uncount_new(const struct entry *e, size_t n);
void slots_count_switched(const struct entry *e, size_t n);

/* After slots_count_new: is every E[i].TBLOCK still live?  Another
 * domain's retirement may have marked one pending since it was validated
 * (heap_block_retire marks first, then reads the index).  Skipped where
 * no other domain can retire the block (D alone on its heap, the block
 * in it).  0, or EINVAL naming WHO (cmodx_fail() called). */
int recheck_live(cmodx_domain *d, const char *who, const struct entry *e, size_t n);

/* Check E[0..N) against D and fill their blocks: 0 or EINVAL with
 * cmodx_fail() called. */
int publish_validate(cmodx_domain *d, struct entry *e, size_t n);

/* Publish E[0..N) as one batch, under D's writer lock (publish.c gives the
 * steps).  OLD, if not NULL, receives each slot's previous target.  0, or
 * an errno from a step before any switch: then nothing was switched. */
int publish_commit_locked(cmodx_domain *d, struct entry *e, size_t n, cmodx_xptr *old);

#endif
