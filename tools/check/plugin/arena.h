/*
 * arena.h — zeroed memory for the model's state, never freed (arena.c).
 */
#ifndef CMODX_CHECK_ARENA_H
#define CMODX_CHECK_ARENA_H

#include <stddef.h>

/* SIZE zeroed bytes aligned to ALIGN (a power of two, at most 4096), or
 * NULL when the host has no memory left.  Thread-safe. */
void *arena_zalloc(size_t size, size_t align);

/* LEN bytes of fresh zeroed read-write memory (anonymous, not reserved),
 * placed away from the guest's mappings (arena.c), or NULL.  Thread-safe;
 * release with munmap. */
void *far_map(size_t len);

#endif
