/*
 * src/heap/heap.h - what the layers above the code heap may ask of it
 * beyond the public API (include/cmodx/heap.h).
 */
#ifndef CMODX_SRC_HEAP_HEAP_H
#define CMODX_SRC_HEAP_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "cmodx/heap.h"

/* The size of the live block starting at X, or 0 if X is not the start of
 * a live block of H.  Takes H's lock. */
size_t heap_live_block_size(cmodx_heap *h, cmodx_xptr x);

/* Where an address lies in H (heap_find_block()). */
enum heap_where {
    HEAP_OUTSIDE = 0, /* in neither view of any chunk: not H's code */
    HEAP_WRITE_VIEW,  /* in a chunk's write view: never a valid code address */
    HEAP_NOT_LIVE,    /* in the execute view, but in free space */
    HEAP_PENDING,     /* in a block retired and waiting for its grace period */
    HEAP_LIVE,        /* [X, X+LEN) lies inside one live block */
    HEAP_PAST_END,    /* X is inside a live block, X+LEN beyond its end */
};

/* Classify [X, X+LEN) (LEN may be 0) against H's chunks; for HEAP_LIVE,
 * HEAP_PAST_END and HEAP_PENDING the block's start goes to *START and its
 * size to *SIZE (either may be NULL).  Takes H's lock. */
enum heap_where heap_find_block(cmodx_heap *h, const void *x, size_t len, cmodx_xptr *start,
                                size_t *size);

/* heap_find_block() in every heap of the process but SKIP, until one
 * holds X in either view (HEAP_OUTSIDE if none does).  Takes the list's
 * lock, then each heap's. */
enum heap_where heap_find_in_any(const void *x, size_t len, cmodx_heap *skip,
                                 cmodx_xptr *start, size_t *size);

/* The block lifecycle's middle state.  heap_block_retire: the live block
 * starting at X becomes pending (retired, not yet free); its size in
 * *BYTES.  0, or EINVAL with cmodx_fail() called when X is not the start
 * of a live block (a pending one: "retired twice").
 * heap_free_retired: a pending block is trap-filled and freed as
 * cmodx_block_free() frees a live one; EINVAL if X is not pending.
 * cmodx_block_free() itself refuses pending blocks: the domain that
 * retired one frees it. */
int heap_block_retire(cmodx_heap *h, cmodx_xptr x, size_t *bytes);
/* The slot layer's answers (src/slot/slot.c), registered when the first
 * slot is made.  BLOCK: does an initialised slot of any domain target an
 * address inside the block starting at START?  RANGE: an address in
 * [B, B+LEN)?  cmodx_block_free() and heap_block_retire() ask BLOCK (one
 * lookup, whatever the number of slots): a block still targeted is
 * refused (EBUSY), never trap-filled under its callers.  Each takes the
 * slot layer's leaf lock: never called with a heap lock held. */
void heap_set_target_check(int (*block)(const void *start), int (*range)(uintptr_t b, size_t len));
/* Does an initialised slot of any domain target an address of H's chunks?
 * (cmodx_heap_destroy refuses then.)  RANGE once per chunk. */
int heap_targeted(cmodx_heap *h);
int heap_free_retired(cmodx_heap *h, cmodx_xptr x);

/* A domain frees retired blocks into H from now on (heap_hold) / no
 * longer (heap_release): cmodx_heap_destroy() refuses with EBUSY between
 * the two. */
void heap_hold(cmodx_heap *h);
/* How many domains hold H now (takes H's lock). */
unsigned heap_users(cmodx_heap *h);
void heap_release(cmodx_heap *h);

/* H's CMODX_HEAP_* flags (a domain's internal heaps follow its heap's). */
unsigned heap_flags(cmodx_heap *h);

/* near.c, for patching in place: if [X, X+LEN) lies inside one live block
 * of H, its write-view address in *W and 1; else 0. */
int heap_write_view(cmodx_heap *h, uintptr_t x, size_t len, void **w);

/* near.c: map the execute view of the pages under [X, X+LEN) of H afresh
 * (an emulator's translation of code rewritten in place is dropped, as
 * remap-before-reuse does).  0, EINVAL (not in H) or the mmap errno. */
int heap_remap_exec(cmodx_heap *h, uintptr_t x, size_t len);

#endif
