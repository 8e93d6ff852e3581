/*
 * src/heap/heap.h - what the layers above the code heap may ask of it
 * beyond the public API (include/cmodx/heap.h).
 */
#ifndef CMODX_SRC_HEAP_HEAP_H
#define CMODX_SRC_HEAP_HEAP_H

#include <stddef.h>

#include "cmodx/heap.h"

/* The size of the live block starting at X, or 0 if X is not the start of
 * a live block of H.  Takes H's lock. */
size_t heap_live_block_size(cmodx_heap *h, cmodx_xptr x);

#endif
