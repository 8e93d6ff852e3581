/* src/internal.h - helpers shared by the library's source files. */
#ifndef CMODX_INTERNAL_H
#define CMODX_INTERNAL_H

#include <stddef.h>

#include "cmodx/debug.h"

/* Record a printf-style message for cmodx_last_error() and return ERR. */
int cmodx_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Is fault F (enum cmodx_fault) being injected? */
int cmodx_fault_active(unsigned f);

size_t cmodx_page_size(void);

/* fork: one handler set for the whole library (thread.c), so that domain
 * locks are taken before heap locks, as writers take them. */
void cmodx_install_atfork(void);
void heap_atfork_prepare(void);
void heap_atfork_parent(void);
void heap_atfork_child(void);

#define CMODX_UNLIKELY(x) __builtin_expect(!!(x), 0)

#endif
