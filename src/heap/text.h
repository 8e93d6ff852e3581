/*
 * src/heap/text.h - a write view for the program's own text (text.c): the
 * pages are moved once onto a dual-mapped memfd, never made writable.
 */
#ifndef CMODX_SRC_HEAP_TEXT_H
#define CMODX_SRC_HEAP_TEXT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The write-view address of execute address X, for LEN bytes, in *W.
 * The first time, the pages under [X, X+LEN) move onto the text memfd;
 * SYNC_ALL(ARG) is called once the copy is visible and before it is
 * mapped at X, and must context-synchronise every thread that may run the
 * pages (it is the layer above's cross-thread step).  Only pages of
 * private, read-execute, non-writable mappings that are not the
 * kernel's special ones move (text_check).  0, or an errno with
 * cmodx_fail() called (EINVAL: not program text, or straddling pages
 * moved separately; ENOMEM; SYNC_ALL's error).  Thread-safe.
 */
int text_write_view(uintptr_t x, size_t len, int (*sync_all)(void *), void *arg, void **w);

/*
 * Could [X, X+LEN) be given a write view: moved already, or every page in
 * private read-execute mappings that are not the kernel's special ones
 * ([vdso], [vsyscall], ...)?  Moves nothing, reads no byte of the range:
 * callers check here before they read the target or decide anything.
 * 0, or EINVAL with cmodx_fail() called.  Thread-safe.
 */
int text_check(uintptr_t x, size_t len);

/* Has the page of X moved (is it patchable text)?  Thread-safe. */
int text_is_moved(uintptr_t x);

/* Map the execute view of the moved pages under [X, X+LEN) afresh (an
 * emulator's stale translation is dropped, as the heap's remap-before-reuse
 * does).  0, EINVAL (not moved) or the mmap errno.  Thread-safe. */
int text_remap_exec(uintptr_t x, size_t len);

#endif
