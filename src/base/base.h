/*
 * src/base/base.h - the base layer: error messages, fault injection, the
 * clock, the page size and the mutation switches.  Every other layer may
 * include it; it includes nothing of the library but public headers.
 */
#ifndef CMODX_SRC_BASE_BASE_H
#define CMODX_SRC_BASE_BASE_H

#include <stddef.h>
#include <stdint.h>

#include "cmodx/debug.h"

/* Mutation testing (tools/mutate): CMake defines CMODX_MUTANT_<name> to
 * remove one protocol step; MUTANT(name) is 1 in that build only. */
#define MUTANT(name) MUTANT_IS_SET(CMODX_MUTANT_##name)
#define MUTANT_IS_SET(v) MUTANT_IS_SET_(v)
#define MUTANT_IS_SET_(v) (#v[0] == '1')

/* Record a printf-style message for cmodx_last_error() and return ERR. */
int cmodx_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Is fault F (enum cmodx_fault) being injected? */
int cmodx_fault_active(unsigned f);

size_t cmodx_page_size(void);

/* CLOCK_MONOTONIC in nanoseconds, for timeouts. */
uint64_t cmodx_now_ns(void);

/* Disable cancellation for a section that holds a library lock and may
 * reach a cancellation point (src/base/cancel.c); calls nest.  Never
 * waits.  Every nocancel_enter() is paired with one nocancel_leave() by
 * the same thread. */
void nocancel_enter(void);
void nocancel_leave(void);

/* How deeply the calling thread is inside a section of the library that
 * may hold one of its locks (src/base/cancel.c): thread_park() and
 * nocancel_enter() count, and so does every other lock that fork's
 * prepare handler takes.  Never on a caller's fast path (cmodx_quiescent,
 * calls through slots).  Async-signal-safe (a thread-local counter). */
void lib_enter(void);
void lib_leave(void);
unsigned lib_depth(void);

/* 0, or ENOTRECOVERABLE (cmodx_fail() called, naming WHO) in a child
 * forked by a signal handler that interrupted a library call: the
 * library's state there is unusable (src/base/fork.c). */
int fork_unusable(const char *who);
int fork_unusable_quiet(void); /* the same test, no message */

/* A backing file that is not a memfd (a temporary file) noted when FD is
 * opened, forgotten before FD is closed: in such an unusable child its
 * writable shared mappings are made PROT_NONE, found by device and inode
 * (src/base/fork.c).  Never wait; safe from any thread. */
void fork_backing_note(int fd);
void fork_backing_forget(int fd);

#define CMODX_UNLIKELY(x) __builtin_expect(!!(x), 0)

#endif
