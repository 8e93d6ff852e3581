/*
 * cmodx/debug.h - fault injection, for testing programs that use cmodx.
 *
 * These switches make cmodx behave as if a facility were missing, so that
 * a program (and cmodx's own test suite) can exercise its fallback and
 * error paths on a machine that has everything.  They are process-wide and
 * also settable with the environment variable CMODX_FAULT, a comma
 * separated list of the names below, each matched whole (read once, at the
 * first cmodx call that consults it).
 */
#ifndef CMODX_DEBUG_H
#define CMODX_DEBUG_H

#include "api.h"

#ifdef __cplusplus
extern "C" {
#endif

enum cmodx_fault {
    CMODX_FAULT_MEMFD = 1u << 0,      /* "memfd": memfd_create fails ENOSYS */
    CMODX_FAULT_MEMBARRIER = 1u << 1, /* "membarrier": SYNC_CORE unsupported */
    CMODX_FAULT_MMAP = 1u << 2,       /* "mmap": new chunk mappings fail ENOMEM */
    /* "membarrier-later": membarrier registers, but every command issued
     * after that fails ENOMEM, as under a seccomp filter installed after
     * the domain was created or when the kernel runs out of memory.  The
     * library then fails the calls that needed it with that error
     * (docs/RECLAMATION.md, "When membarrier fails later"). */
    CMODX_FAULT_MEMBARRIER_LATER = 1u << 3,
    /* "patch-sync": every cross-thread synchronisation of the in-place
     * patch protocol (include/cmodx/patch.h) fails ENOMEM, after its
     * stores: the error paths that write the old instructions back, and
     * a batch redirection whose text step fails, can be tested. */
    CMODX_FAULT_PATCH_SYNC = 1u << 4,
};

/*
 * NAME
 *   cmodx_debug_set_faults - choose which facilities appear to be missing
 * DESCRIPTION
 *   Replaces the process-wide fault mask with MASK (a bitwise or of
 *   enum cmodx_fault values; 0 clears all).  Affects later calls only: a
 *   heap or domain that already chose its mechanism keeps it.
 * THREAD SAFETY
 *   Thread-safe (an atomic store).
 *   Never waits.
 */
CMODX_API void cmodx_debug_set_faults(unsigned mask);

/*
 * NAME
 *   cmodx_debug_faults - the facilities that currently appear to be missing
 * DESCRIPTION
 *   The process-wide fault mask: a bitwise or of enum cmodx_fault values.
 *   The first call in the process that finds no mask set yet reads the
 *   environment variable CMODX_FAULT (names not listed above are
 *   ignored) and installs its value; a mask set by
 *   cmodx_debug_set_faults() always wins over the environment's.
 * RETURN VALUE
 *   The mask; 0 when nothing is injected.  Never fails.
 * THREAD SAFETY
 *   Thread-safe (atomic loads and one compare-and-swap; concurrent first
 *   calls install the same value).  Not async-signal-safe on its first
 *   call (getenv).
 *   Never waits.
 */
CMODX_API unsigned cmodx_debug_faults(void);

#ifdef __cplusplus
}
#endif
#endif
