/*
 * cmodx/error.h - how cmodx reports failure.
 *
 * Every cmodx function that can fail returns an int: 0 on success, or a
 * positive errno value (EINVAL, ENOMEM, ETIMEDOUT, ...) on failure, in the
 * style of the pthread functions.  A failing call also stores a one-line,
 * human-readable explanation in a thread-local buffer that
 * cmodx_last_error() returns.
 *
 * One error any such function may return: ENOTRECOVERABLE, in a child
 * process forked by a signal handler that interrupted a cmodx call of the
 * same thread (docs/HEAP.md, "fork() from a signal handler").  The library
 * is unusable there: every call that could take a lock or touch shared
 * code returns it (functions returning void do nothing, the statistics
 * calls report zeros, cmodx_heap_contains says 0), and none waits; every
 * call that writes or maintains code (cmodx_block_write,
 * cmodx_make_visible, slots, batches, patches, entries) refuses.  The
 * child's write views of the library's code are made PROT_NONE when it
 * starts (they still map the parent's live code): a raw write through a
 * cmodx_block's write pointer kills the child with SIGSEGV instead of
 * changing the parent's code.  Where that protection cannot be applied
 * (no /proc/self/maps) the child _exits with 127.  The parent is
 * unaffected.
 */
#ifndef CMODX_ERROR_H
#define CMODX_ERROR_H

#include "api.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * NAME
 *   cmodx_last_error - explain the calling thread's most recent failure
 * DESCRIPTION
 *   The message recorded by the last cmodx call that failed in the
 *   calling thread, e.g. "cmodx_block_free: 0x7f12... is not a live block
 *   (double free?)".  Successful calls do not clear it.
 * RETURN VALUE
 *   A NUL-terminated string in a per-thread buffer, never NULL; "" when
 *   no call has failed yet in this thread.  Never fails.
 * THREAD SAFETY
 *   Thread-safe: the buffer is per thread.  The pointer stays valid until the
 *   calling thread's next failing cmodx call.
 *   Never waits.
 */
CMODX_API const char *cmodx_last_error(void);

/*
 * NAME
 *   cmodx_strerror - name a cmodx error code
 * DESCRIPTION
 *   Describes the errno value ERR as cmodx uses it (for example
 *   ETIMEDOUT: "a thread did not acknowledge in time").
 * RETURN VALUE
 *   A static string, never NULL, not to be freed; for a value cmodx gives
 *   no meaning of its own, the C library's strerror(ERR).  Never fails.
 * THREAD SAFETY
 *   Thread-safe.
 *   Never waits.
 */
CMODX_API const char *cmodx_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
