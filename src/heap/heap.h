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

/* near.c, for patching in place: if [X, X+LEN) lies inside one live block
 * of H, its write-view address in *W and 1; else 0. */
int heap_write_view(cmodx_heap *h, uintptr_t x, size_t len, void **w);

/* near.c: map the execute view of the pages under [X, X+LEN) of H afresh
 * (an emulator's translation of code rewritten in place is dropped, as
 * remap-before-reuse does).  0, EINVAL (not in H) or the mmap errno. */
int heap_remap_exec(cmodx_heap *h, uintptr_t x, size_t len);

#endif
