/*
 * src/thread/refs.h - which blocks of the domain's heap its slots target
 * (refs.c), so that CMODX_RETIRE_OLD retires a block only once no slot of
 * the domain still targets it, and cmodx_retire() refuses a block a slot
 * still targets.  Every function on a domain needs D's writer lock.
 */
#ifndef CMODX_SRC_THREAD_REFS_H
#define CMODX_SRC_THREAD_REFS_H

#include <stddef.h>

#include "thread/thread.h"

/* Room for MORE new blocks, so that the refs_add() calls of a publish
 * cannot fail after its first slot switch.  0 or ENOMEM (cmodx_fail()
 * called). */
int refs_reserve(cmodx_domain *d, size_t more);

/* Blocks are named by their start (the caller finds it with the heap).
 * refs_add: one more slot targets the block.  Room must have been
 * reserved if the block is new to the table.
 * refs_drop: one slot fewer; a block no slot targets leaves the table
 * unless it is doomed. */
void refs_add(cmodx_domain *d, cmodx_xptr start);
void refs_drop(cmodx_domain *d, cmodx_xptr start);

/* One slot leaves the block at START, in one lookup: refs_doom() first
 * if DOOM, then refs_drop().  -1 if START is not in the table (not a
 * counted block's start: the caller looks up the block holding it); else
 * 1 if the block is now doomed and no slot targets it (the caller
 * retires it through refs_take_doomed(), once every switch of its
 * publish is done), 0 otherwise. */
int refs_leave(cmodx_domain *d, cmodx_xptr start, int doom);

/* Before a batch's switches: bring the table's entry for START towards
 * the cache (a hint; no effect on the counts). */
void refs_prefetch(cmodx_domain *d, const void *start);

/* How many slots target the block at START (0: none). */
unsigned refs_of(cmodx_domain *d, cmodx_xptr start);

/* CMODX_RETIRE_OLD left the block at START: it is to be retired once no
 * slot targets it.  Returns 1 if it was counted. */
int refs_doom(cmodx_domain *d, cmodx_xptr start);

/* If the block at START is doomed and no slot targets it any more, remove
 * it from the table and return 1: the caller retires it now. */
int refs_take_doomed(cmodx_domain *d, cmodx_xptr start);

/* Domain destruction: the table's memory. */
void refs_free(cmodx_domain *d);

/* The table alone, for an owner other than a domain (the slot layer's
 * process-wide index, under the owner's lock).  refs_table_reserve: room
 * for MORE new blocks, 0 or ENOMEM (cmodx_fail() NOT called: the caller
 * names itself).  add, drop and of as refs_add, refs_drop and refs_of;
 * a NULL START is never counted.  Each O(1) on average. */
int refs_table_reserve(struct block_refs *t, size_t more);
void refs_table_add(struct block_refs *t, const void *start);
void refs_table_drop(struct block_refs *t, const void *start);
unsigned refs_table_of(struct block_refs *t, const void *start);

#endif
