/*
 * src/base/xfsz.h - the library's own file growth and writes, guarded
 * against SIGXFSZ (xfsz.c).
 *
 * Why: a process whose RLIMIT_FSIZE (ulimit -f) is below what the library
 * grows a backing file to (a heap's memfd growing by a chunk, the fork
 * snapshot, the moved program text) is sent SIGXFSZ by the kernel, whose
 * default action ends the process with a core dump, before the system
 * call can return EFBIG.  The program asked for code memory, not for a
 * file: the library reports EFBIG instead (POSIX: the signal is generated
 * and the call fails with EFBIG; blocked, the signal stays pending and
 * the call returns).
 */
#ifndef CMODX_SRC_BASE_XFSZ_H
#define CMODX_SRC_BASE_XFSZ_H

#include <signal.h>
#include <stddef.h>

struct xfsz_guard {
    sigset_t old;    /* the calling thread's mask before xfsz_block() */
    int was_pending; /* SIGXFSZ was pending (thread or process) already */
};

/* Block SIGXFSZ in the calling thread, remembering its mask and whether a
 * SIGXFSZ was already pending.  Async-signal-safe (fork's prepare handler
 * uses it). */
void xfsz_block(struct xfsz_guard *g);

/* Restore the mask.  ERR is the guarded operation's errno: if EFBIG, and
 * a SIGXFSZ is pending that was not before xfsz_block(), it is the one
 * the kernel sent for that operation and is consumed (sigtimedwait with a
 * zero timeout).  A SIGXFSZ the program had pending is never consumed. */
void xfsz_restore(struct xfsz_guard *g, int err);

/* The calling process's RLIMIT_FSIZE soft limit in bytes, or 0 if none
 * (RLIM_INFINITY).  For messages and for refusing a heap no chunk of
 * which can ever be allocated. */
unsigned long long xfsz_limit(void);

#endif
