/*
 * cmodx/heap.h - a W^X code heap with separate write and execute views.
 *
 * The heap is one memfd mapped twice: a read-write view that the writer
 * stores instructions through, and a read-execute view that threads run.
 * No address is ever writable and executable at once.  A block therefore has
 * two addresses, and they have distinct types so that the compiler catches
 * a write through the execute view or a call through the write view.
 *
 * Freed blocks are filled with the architecture's trap instruction, so a
 * thread that still runs a freed block faults loudly.  Executable addresses
 * are recycled by page: before freed space is handed out again, the pages'
 * execute view is mapped afresh (see docs/HEAP.md for why and what it costs).
 */
#ifndef CMODX_HEAP_H
#define CMODX_HEAP_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An address in the write (read-write, never executable) view. */
typedef struct cmodx_wptr {
    void *ptr;
} cmodx_wptr;

/* An address in the execute (read-execute, never writable) view. */
typedef struct cmodx_xptr {
    const void *ptr;
} cmodx_xptr;

/* One allocated block: the same bytes under both views. */
typedef struct cmodx_block {
    cmodx_wptr write; /* store instructions here */
    cmodx_xptr exec;  /* run (and publish) this address */
    size_t size;      /* usable bytes, >= the size asked for */
} cmodx_block;

typedef struct cmodx_heap cmodx_heap;

/* Flags for struct cmodx_heap_config. */
enum {
    /*
     * If memfd_create() is unavailable (old kernel, seccomp filter), back
     * the heap with an unlinked temporary file instead ($CMODX_TMPDIR, else
     * /dev/shm, else $TMPDIR, else /tmp).  Still two views, still never
     * writable and executable at once; it fails if the directory is mounted
     * noexec.  Without this flag a missing memfd is an error (ENOSYS).
     */
    CMODX_HEAP_ALLOW_TMPFILE = 1u << 0,
};

struct cmodx_heap_config {
    size_t chunk_bytes; /* growth step; 0 = 1 MiB.  Rounded up to pages;
                         * at most 64 GiB (1 GiB on 32-bit systems) */
    size_t limit_bytes; /* 0 = unlimited; else total mapped bytes allowed,
                         * at least one page */
    unsigned flags;     /* CMODX_HEAP_* */
};

struct cmodx_heap_stats {
    size_t mapped_bytes;   /* bytes of chunks mapped (each counted once) */
    size_t live_bytes;     /* bytes in live blocks */
    size_t live_blocks;
    size_t free_bytes;     /* bytes on the free lists */
    size_t free_runs;      /* distinct free extents (fragmentation) */
    size_t chunks;
    size_t metadata_bytes; /* out-of-line bookkeeping, heap included */
    uint64_t remaps;       /* execute-view page remaps performed */
    uint64_t remapped_pages;
    size_t alignment;      /* every block's alignment and size granule */
};

/*
 * NAME
 *   cmodx_heap_create - create a code heap
 * SYNOPSIS
 *   int cmodx_heap_create(const struct cmodx_heap_config *config,
 *                         cmodx_heap **out);
 * DESCRIPTION
 *   Creates an empty heap.  CONFIG may be NULL for the defaults (1 MiB
 *   chunks, no limit, no fallback).  Memory is mapped lazily, a chunk at a
 *   time, when an allocation needs it.  On failure *OUT is set to NULL.
 * RETURN VALUE
 *   0, or
 *   EINVAL  OUT is NULL, unknown flags, chunk_bytes above the maximum, or
 *           a limit_bytes other than 0 below one page (the message names
 *           the field);
 *   ENOSYS  the kernel has no memfd_create, and CMODX_HEAP_ALLOW_TMPFILE
 *           was not given or no temporary file could be created;
 *   EPERM   memfd_create was refused (seccomp, a security module), same
 *           conditions; the message says what to pass or set;
 *   EPERM, EACCES  (with CMODX_HEAP_ALLOW_TMPFILE, memfd unavailable) the
 *           temporary file opens but cannot be mapped executable: its
 *           directory is on a noexec mount (EPERM) or a security module
 *           refuses (EACCES).  Found here, by mapping the empty file
 *           executable once, not at the first allocation; the message
 *           names the directory and says to set CMODX_TMPDIR to one on a
 *           file system mounted without noexec.  A set CMODX_TMPDIR is
 *           the only directory tried (never replaced by a default one);
 *           otherwise /dev/shm, $TMPDIR and /tmp in turn, the first one
 *           that works;
 *   EMFILE, ENFILE  the process's or the system's file descriptor limit
 *           (each heap holds one descriptor);
 *   EFBIG   the process's file size limit (RLIMIT_FSIZE, ulimit -f) is
 *           below the heap's first chunk (chunk_bytes, or limit_bytes if
 *           smaller): the backing file could never grow to hold a block;
 *           the message names the limit;
 *   ENOMEM.
 * THREAD SAFETY
 *   Thread-safe.  Does not wait for other threads.
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API int cmodx_heap_create(const struct cmodx_heap_config *config, cmodx_heap **out);

/*
 * NAME
 *   cmodx_heap_destroy - unmap a heap and everything in it
 * DESCRIPTION
 *   Unmaps both views of every chunk.  No thread may still run code from
 *   the heap.  A domain created with this heap (struct
 *   cmodx_domain_config's heap) frees retired blocks into it until the
 *   domain is destroyed: destroy such domains first.  NULL is accepted
 *   and ignored.
 * RETURN VALUE
 *   0; EBUSY while a domain still uses the heap, or while an initialised
 *   slot of any domain targets code in it (nothing is done).
 * THREAD SAFETY
 *   Not thread-safe with any other use of the same heap.  Does not wait.
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API int cmodx_heap_destroy(cmodx_heap *heap);

/*
 * NAME
 *   cmodx_block_alloc - allocate a code block
 * SYNOPSIS
 *   int cmodx_block_alloc(cmodx_heap *heap, size_t size, cmodx_block *out);
 * DESCRIPTION
 *   Allocates SIZE bytes (rounded up to the heap's alignment, which is at
 *   least the largest cache line) and fills *OUT with both addresses.
 *   Space freed longest ago is preferred.  If the space was used before, the
 *   execute view of its pages has already been mapped afresh.  The new
 *   block's content is unspecified (trap fill if recycled, zero if fresh):
 *   write it through OUT->write, then call cmodx_make_visible() on OUT->exec
 *   before any thread runs it.  On failure *OUT is zeroed (no block).
 *
 *   A block's life: live (allocated) -> either freed by cmodx_block_free(),
 *   or retired into a domain (cmodx_retire(), CMODX_RETIRE_OLD) and then
 *   pending until its grace period passed, when the domain frees it ->
 *   free (trap-filled, reusable).  Each step checks the state it leaves:
 *   a block is retired at most once and freed at most once.
 * RETURN VALUE
 *   0; EINVAL for SIZE 0, SIZE above 1 GiB or NULL arguments; ENOMEM when
 *   the heap limit is reached or the system is out of memory; EFBIG when
 *   a new chunk would take the backing file past the process's file size
 *   limit (RLIMIT_FSIZE; the message names it): SIGXFSZ, which the kernel
 *   sends with that failure and whose default action ends the process, is
 *   blocked in the calling thread around the growth and the one it caused
 *   is taken back (a SIGXFSZ the program had pending stays pending).  On
 *   every failure the heap is left exactly as it was.
 * THREAD SAFETY
 *   Thread-safe (the heap has an internal lock).
 *   Never waits for other threads (the heap's lock is never held across a
 *   wait).
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API int cmodx_block_alloc(cmodx_heap *heap, size_t size, cmodx_block *out);

/*
 * NAME
 *   cmodx_block_free - return a block to the heap, trap-filled
 * SYNOPSIS
 *   int cmodx_block_free(cmodx_heap *heap, cmodx_xptr exec);
 * DESCRIPTION
 *   Overwrites the block with trap instructions, makes that visible to
 *   instruction fetch, remaps the execute view of its pages (so that even
 *   an emulator's cached translation of the old code is dropped), and puts
 *   the space on the free list.  The caller guarantees that no thread will
 *   enter the block any more: after a slot switch, only after a grace
 *   period (see cmodx/reclaim.h, which does this for you).
 * RETURN VALUE
 *   0; EINVAL if EXEC is not the start of a live block of this heap
 *   (a second free of the same block, an interior address, another heap's
 *   block, or a block retired into a domain, which the domain frees after
 *   its grace period), with the reason in cmodx_last_error(); EBUSY if an
 *   initialised slot of any domain (an entry redirection's included)
 *   still targets an address in the block (nothing freed: switch or
 *   finish the slots first); ENOMEM (bookkeeping); the errno of a failed trap-fill publication (ARMv7,
 *   RISC-V cache system calls: the block IS freed).
 * THREAD SAFETY
 *   Thread-safe.  Does not wait for other threads (the slot check takes
 *   a short internal lock, never held while waiting).  Cost: the check
 *   is one lookup in the library's count of initialised slots per
 *   targeted block, whatever the number of slots.
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API int cmodx_block_free(cmodx_heap *heap, cmodx_xptr exec);

/*
 * NAME
 *   cmodx_block_write - copy bytes into a block through its write view
 * DESCRIPTION
 *   Copies LEN bytes from SRC to OFFSET within BLOCK, bounds-checked.  This
 *   is only a store (a memcpy: no instruction is written atomically): for
 *   a block no thread can run yet; call cmodx_make_visible() afterwards.
 *   To change an instruction that threads may be running, use
 *   cmodx_patch_insn() (cmodx/patch.h).  LEN 0 copies nothing and SRC may
 *   then be NULL.
 * RETURN VALUE
 *   0, or EINVAL when the range does not fit in the block (offset and
 *   length are checked without overflow) or BLOCK, its write view or (with
 *   LEN > 0) SRC is NULL.
 * THREAD SAFETY
 *   Thread-safe for distinct blocks; the caller owns the block's bytes.
 *   Never waits.
 *   Cancellation: not a cancellation point (it reaches none).
 */
CMODX_API int cmodx_block_write(const cmodx_block *block, size_t offset, const void *src, size_t len);

/*
 * NAME
 *   cmodx_heap_get_stats - read the heap's accounting
 * DESCRIPTION
 *   Blocks retired into a domain and pending their grace period count as
 *   live until freed.  A NULL HEAP zeroes *OUT; a NULL OUT is ignored.
 * THREAD SAFETY
 *   Thread-safe; the numbers are a consistent snapshot.
 *   Never waits for other threads.
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API void cmodx_heap_get_stats(cmodx_heap *heap, struct cmodx_heap_stats *out);

/*
 * NAME
 *   cmodx_heap_contains - is EXEC inside a live block of HEAP?
 * DESCRIPTION
 *   Looks EXEC (an execute-view address) up among HEAP's blocks and stores
 *   the start of the live block holding it in *BLOCK_START (may be NULL).
 *   Meant for diagnostics (a signal handler that caught a trap uses it to
 *   name the block).
 * RETURN VALUE
 *   1 if EXEC lies in a live block; 0 otherwise (also for free space, for
 *   a block retired and pending its grace period, and for a NULL HEAP),
 *   *BLOCK_START then NULL.  Never fails.
 * THREAD SAFETY
 *   Thread-safe; not async-signal-safe.
 *   Never waits for other threads.
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API int cmodx_heap_contains(cmodx_heap *heap, cmodx_xptr exec, cmodx_xptr *block_start);

/*
 * NAME
 *   cmodx_make_visible - make freshly written code visible to instruction fetch
 * SYNOPSIS
 *   int cmodx_make_visible(cmodx_xptr start, size_t len);
 * DESCRIPTION
 *   Runs this architecture's sequence that makes the bytes just stored
 *   (through the write view) into [START, START+LEN) of the execute view
 *   visible to instruction fetch on every core, and context-synchronises
 *   the CALLING thread.  AArch64: DC CVAU per data line, DSB ISH, IC IVAU
 *   per instruction line, DSB ISH, ISB, with line sizes read from CTR_EL0
 *   at every call.  ARMv7: the cacheflush system call.  RISC-V: a fence,
 *   then riscv_flush_icache with flags 0 (all harts).  x86-64: a
 *   serialising instruction.  START need not be aligned.
 *   It does NOT context-synchronise other threads that may already have
 *   fetched old instructions: publishing through a slot does that.
 * RETURN VALUE
 *   0; EINVAL for a NULL START; or the errno of a failing system call
 *   (ARMv7, RISC-V).
 * THREAD SAFETY
 *   Thread-safe.
 *   Never waits for other threads (the maintenance is the caller's own).
 *   Cancellation: not a cancellation point (it reaches none).
 */
CMODX_API int cmodx_make_visible(cmodx_xptr start, size_t len);

/*
 * NAME
 *   cmodx_heap_lookup - from an execute address to its block and write view
 * SYNOPSIS
 *   int cmodx_heap_lookup(cmodx_heap *heap, cmodx_xptr exec,
 *                         cmodx_block *block, cmodx_wptr *write);
 * DESCRIPTION
 *   If EXEC lies anywhere inside a live block of HEAP, stores that block
 *   (both views of its start, its size) in *BLOCK and the write-view
 *   address of EXEC itself in *WRITE; either may be NULL.  A patcher that
 *   knows only where code runs finds where to store into it this way.  On
 *   failure *BLOCK is zeroed and *WRITE is NULL.
 * RETURN VALUE
 *   0; EINVAL (NULL HEAP or EXEC, or EXEC is not inside a live block).
 * THREAD SAFETY
 *   Thread-safe (takes the heap's lock).  The answer holds while the
 *   block stays live: the caller keeps it from being freed.
 *   Never waits for other threads.
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API int cmodx_heap_lookup(cmodx_heap *heap, cmodx_xptr exec, cmodx_block *block,
                                cmodx_wptr *write);

/*
 * NAME
 *   cmodx_block_alloc_near - allocate a code block near an address
 * SYNOPSIS
 *   int cmodx_block_alloc_near(cmodx_heap *heap, size_t size, cmodx_xptr near,
 *                              size_t max_distance, cmodx_block *out);
 * DESCRIPTION
 *   As cmodx_block_alloc(), but the whole execute range of the block,
 *   [OUT->exec, OUT->exec + SIZE), lies within MAX_DISTANCE bytes of NEAR,
 *   so that a direct branch at NEAR reaches it (AArch64 B: 128 MiB; x86-64
 *   JMP rel32: 2 GiB; subtract the distance from NEAR to the branch).  Free
 *   space of the heap in range is used first, the placement closest to
 *   NEAR; otherwise a new chunk is mapped into a gap of the address space
 *   within range (read from /proc/self/maps and mapped with
 *   MAP_FIXED_NOREPLACE, so nothing mapped meanwhile is replaced).  The
 *   write view may be anywhere.
 * RETURN VALUE
 *   0; EINVAL (NULL arguments, SIZE 0, above MAX_DISTANCE or above
 *   1 GiB; *OUT is then zeroed, as on every failure); ENOMEM when
 *   no code memory can be had within range (the message gives the
 *   distance and the address), or the heap limit is reached; EFBIG as
 *   cmodx_block_alloc() (the file size limit: no gap is tried further).
 * THREAD SAFETY
 *   Thread-safe (takes the heap's lock).
 *   Never waits for other threads.
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API int cmodx_block_alloc_near(cmodx_heap *heap, size_t size, cmodx_xptr near,
                                     size_t max_distance, cmodx_block *out);

#ifdef __cplusplus
}
#endif
#endif
