/* src/internal.h - helpers shared by the library's source files. */
#ifndef CMODX_INTERNAL_H
#define CMODX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cmodx/debug.h"
#include "cmodx/heap.h"

/* Record a printf-style message for cmodx_last_error() and return ERR. */
int cmodx_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Is fault F (enum cmodx_fault) being injected? */
int cmodx_fault_active(unsigned f);

size_t cmodx_page_size(void);

/* CLOCK_MONOTONIC in nanoseconds, for timeouts. */
uint64_t cmodx_now_ns(void);

/* heap.c: the size of the live block starting at X, or 0 if X is not the
 * start of a live block of H. */
size_t heap_live_block_size(cmodx_heap *h, cmodx_xptr x);

/* fork: one handler set for the whole library (thread.c), so that domain
 * locks are taken before heap locks, as writers take them. */
void cmodx_install_atfork(void);
void heap_atfork_prepare(void);
void heap_atfork_parent(void);
void heap_atfork_child(void);

#define CMODX_UNLIKELY(x) __builtin_expect(!!(x), 0)

#endif
