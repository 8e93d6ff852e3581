/*
 * cmodx/patch.h - patching code in place: single instructions, and the
 * entries of functions compiled with -fpatchable-function-entry.
 *
 * The rule of cmodx stays: code that may be running is never rewritten,
 * except where the architecture makes a single-instruction replacement
 * safe while other threads execute it:
 *   AArch64  an aligned 32-bit store replacing one of B, BL, NOP, BRK,
 *            SVC, HVC, SMC, ISB by another (Arm ARM B2.2.5, "Concurrent
 *            modification and execution of instructions");
 *   x86-64   the breakpoint protocol (INT3 over the first byte, every
 *            thread serialised, the tail written, every thread serialised,
 *            the first byte written, every thread serialised; Intel SDM
 *            Vol. 3A 8.1.3), for one 5-byte NOP, JMP rel32 or CALL rel32
 *            replaced by another; a SIGTRAP handler sends a thread that
 *            hits the breakpoint on, and chains to the program's handler;
 *   ARMv7, RISC-V 64: no rule cmodx can rely on (docs/PATCHING.md): every
 *            patch is refused, EINVAL for instructions and ENOTSUP for
 *            function entries, with the reason in cmodx_last_error().
 *
 * A patch is a publish: the new instruction is stored, made visible to
 * instruction fetch, and every thread is context-synchronised by the
 * domain's strategy before the call returns.  Code reached by a direct
 * branch passes no slot, so only strategies that synchronise every thread
 * at once can patch: membarrier, signal (every thread that may run the
 * patched code must be registered) and mprotect (x86-64).  Pin one of them
 * in struct cmodx_domain_config rather than inheriting CMODX_SYNC_AUTO;
 * epoch and trampoline domains get ENOTSUP.
 *
 * W^X: no page is ever writable and executable.  An instruction inside
 * the domain's code heap is written through the block's write view.  The
 * program's own text (private read-execute file mappings) is moved, one
 * page at a time and once, onto a dual-mapped memfd: the page keeps its
 * address and bytes, and gains a write view (docs/PATCHING.md gives the
 * costs and limits).
 */
#ifndef CMODX_PATCH_H
#define CMODX_PATCH_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#include "heap.h"
#include "slot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Room for any instruction a patch writes (4 bytes on AArch64, 5 on
 * x86-64). */
#define CMODX_INSN_MAX 8

/*
 * NAME
 *   cmodx_patch_insn_size - bytes of an instruction that a patch writes
 * DESCRIPTION
 *   The size of the instruction cmodx_patch_insn() stores, in bytes:
 *   4 on AArch64 (also the required alignment), 5 on x86-64 (no alignment).
 *   4 on ARMv7 and RISC-V 64, where every patch is refused.
 * RETURN VALUE
 *   4 or 5.  Never fails.
 * THREAD SAFETY
 *   Thread-safe.
 *   Never waits.
 */
CMODX_API size_t cmodx_patch_insn_size(void);

/*
 * NAME
 *   cmodx_patch_encode_jump, cmodx_patch_encode_nop - encode the
 *   instructions a patch usually writes
 * SYNOPSIS
 *   int cmodx_patch_encode_jump(cmodx_xptr at, cmodx_xptr target, int link,
 *                               void *out);
 *   int cmodx_patch_encode_nop(void *out);
 * DESCRIPTION
 *   cmodx_patch_encode_jump writes to OUT (cmodx_patch_insn_size() bytes)
 *   a direct jump (LINK 0: AArch64 B, x86-64 JMP rel32) or call (LINK 1:
 *   BL, CALL rel32) that, placed at execute address AT, goes to TARGET.
 *   cmodx_patch_encode_nop writes the NOP a patch point holds (AArch64 NOP,
 *   x86-64 the 5-byte NOP).
 * RETURN VALUE
 *   0; ERANGE when TARGET is beyond the jump's reach (AArch64 +-128 MiB,
 *   x86-64 +-2 GiB from the next instruction); EINVAL for a misaligned
 *   address or NULL OUT; ENOTSUP on ARMv7 and RISC-V 64.
 * THREAD SAFETY
 *   Thread-safe.
 *   Never waits.
 */
CMODX_API int cmodx_patch_encode_jump(cmodx_xptr at, cmodx_xptr target, int link, void *out);
CMODX_API int cmodx_patch_encode_nop(void *out);

/* One single-instruction patch: at AT, write INSN (cmodx_patch_insn_size()
 * bytes). */
struct cmodx_insn_patch {
    cmodx_xptr at;
    uint8_t insn[CMODX_INSN_MAX];
};

/*
 * NAME
 *   cmodx_patch_insn, cmodx_patch_insns - replace instructions that other
 *   threads may be executing
 * SYNOPSIS
 *   int cmodx_patch_insn(cmodx_domain *d, cmodx_xptr at, const void *insn);
 *   int cmodx_patch_insns(cmodx_domain *d, const struct cmodx_insn_patch *p,
 *                         size_t n);
 * DESCRIPTION
 *   Replaces the instruction at execute address AT with INSN
 *   (cmodx_patch_insn_size() bytes), or each of P[0..N), while other
 *   threads may be running it.  AT lies in a live block of D's heap, or in
 *   the program's own text (a private read-execute mapping: its page is
 *   moved onto a memfd the first time, see the header comment).  Both the
 *   instruction found at AT and the new one must belong to the
 *   architecture's concurrently replaceable set (AArch64: B, BL, NOP, BRK,
 *   SVC, HVC, SMC, ISB; x86-64: 5-byte NOP, JMP rel32, CALL rel32); the
 *   whole batch is checked before anything is written.
 *   AArch64: one aligned 32-bit store per instruction through the write
 *   view, then DC CVAU / DSB ISH / IC IVAU / DSB ISH per instruction, one
 *   ISB, and ONE cross-thread synchronisation for the batch.  x86-64: the
 *   breakpoint protocol, three cross-thread synchronisations per batch.
 *   Then the execute view of each patched page is mapped afresh (an
 *   emulator's stale translation is dropped; on hardware it costs the
 *   system call).  When the call returns every thread synchronised by the
 *   strategy fetches the new instruction at its next execution.  Other
 *   threads may run the old or the new instruction meanwhile, never a mix.
 *   On AArch64 the architecture bounds nothing for a thread that is never
 *   synchronised: with the signal strategy, unregistered threads may run
 *   the old instruction indefinitely.
 * RETURN VALUE
 *   0.  EINVAL: NULL arguments, a misaligned address, an address in
 *   neither D's heap nor patchable text (unmapped, not r-xp, or a kernel
 *   special mapping such as [vdso]), an old or new instruction outside
 *   the set, or any instruction on ARMv7 and RISC-V 64 (the reason is in
 *   cmodx_last_error(); nothing was written, no page moved: every check
 *   precedes the move of program text).  EBUSY: AT overlaps the patch
 *   point of a function entry that a domain has redirected (restore it
 *   first).  ENOTSUP: D's strategy does
 *   not synchronise every thread at once (epoch, trampoline).  ENOMEM.
 *   EFBIG: moving the text's page onto its memfd would pass the process's
 *   file size limit (RLIMIT_FSIZE; no SIGXFSZ is left behind, see
 *   docs/HEAP.md); nothing was written.  ETIMEDOUT or a system call's errno from the synchronisation: then
 *   the old instructions were written back before returning.
 * THREAD SAFETY
 *   Thread-safe; serialised with D's publishes.  Waits for other threads
 *   as the strategy does (signal: for each registered online thread's
 *   acknowledgement, up to signal_timeout_ms).
 *   Parked meanwhile (offline in every domain the caller is registered in,
 *   cancellation disabled): the patch lock is the process's, and a writer
 *   of any domain holds it while it waits.
 */
CMODX_API int cmodx_patch_insn(cmodx_domain *d, cmodx_xptr at, const void *insn);
CMODX_API int cmodx_patch_insns(cmodx_domain *d, const struct cmodx_insn_patch *p, size_t n);

/* ---- function entries ------------------------------------------------------ */

/* One redirection of a batch: FUNCTION's entry goes to TARGET (a block or
 * function every thread may run: made visible with cmodx_make_visible()
 * or published), or, when SLOT is not NULL, follows SLOT (a slot of the
 * same domain) and TARGET is ignored. */
struct cmodx_entry_change {
    cmodx_xptr function;
    cmodx_xptr target;
    const cmodx_slot *slot;
};

/* What cmodx_entry_list() reports for one patch point. */
struct cmodx_entry_info {
    cmodx_xptr function;    /* the function's address */
    cmodx_xptr patch_point; /* the NOP that a redirection replaces */
    cmodx_xptr trampoline;  /* where that jump goes (allocated near) */
    cmodx_xptr target;      /* what the trampoline goes to now */
    const cmodx_slot *slot; /* the user's slot it follows, or NULL */
    int redirected;         /* 1: the jump is in place; 0: restored */
};

/*
 * NAME
 *   cmodx_entry_redirect, cmodx_entry_redirect_slot, cmodx_entry_redirect_batch
 *   - send calls of a compiled function somewhere else
 * SYNOPSIS
 *   int cmodx_entry_redirect(cmodx_domain *d, cmodx_xptr function,
 *                            cmodx_xptr target);
 *   int cmodx_entry_redirect_slot(cmodx_domain *d, cmodx_xptr function,
 *                                 const cmodx_slot *slot);
 *   int cmodx_entry_redirect_batch(cmodx_domain *d,
 *                                  const struct cmodx_entry_change *c,
 *                                  size_t n);
 * DESCRIPTION
 *   FUNCTION was compiled with -fpatchable-function-entry (AArch64: N >= 1,
 *   e.g. =2; x86-64: =5 with clang, which emits one 5-byte NOP; gcc's five
 *   one-byte NOPs are refused with ENOTSUP, see docs/PATCHING.md).  The
 *   first redirection allocates, within branch range of the entry (from a
 *   heap of the library's own that lives as long as the process, with
 *   cmodx_block_alloc_near), a trampoline that loads the function's
 *   slot and jumps to it, publishes it, and replaces the entry's NOP with a
 *   jump to it (cmodx_patch_insns' protocol).  Later redirections publish
 *   the slot (visibility, one cross-thread synchronisation) and never
 *   touch the text again.  Calls reach TARGET with the caller's arguments
 *   and return address: TARGET has FUNCTION's type.  The trampoline
 *   clobbers only x16 (AArch64) or r11 (x86-64), which the ABI lets a call
 *   clobber.  A landing pad at the entry (BTI C, ENDBR64) is kept: the
 *   patch point is the NOP after it.  The batch form redirects all of C
 *   with one synchronisation for the slots and one patch protocol run for
 *   the new patch points; its checks come first, so an error leaves every
 *   function as it was.
 * RETURN VALUE
 *   0.  EINVAL: NULL arguments, FUNCTION not mapped or not patchable text
 *   (checked before any byte of it is read), the entry does not hold the
 *   expected NOP ("not a patch point"), SLOT of another domain, TARGET is
 *   FUNCTION's own entry up to its patch point or an entry trampoline
 *   (every call would loop).
 *   EBUSY: the patch point was redirected by someone else (it holds a
 *   branch cmodx did not write, after a landing pad or not, or belongs to
 *   another domain).  ENOTSUP:
 *   ARMv7, RISC-V 64, gcc's one-byte NOPs on x86-64, or a strategy that
 *   does not synchronise every thread at once.  ENOMEM: no code memory
 *   within branch range (the message says how far).  EFBIG: growing the
 *   trampolines' heap or the moved text's memfd would pass the process's
 *   file size limit (RLIMIT_FSIZE, docs/HEAP.md).  The first redirection
 *   creates the trampolines' own heap (memfd only): cmodx_heap_create()'s
 *   errors then (ENOSYS, EPERM, EMFILE, ENFILE, EFBIG).  On any error no
 *   page of program text was moved unless the text step had begun.  A
 *   synchronisation error (ETIMEDOUT, ...): nothing is redirected; if it
 *   came in the text step, the slots already switched were switched back
 *   and the old instructions written back, but a thread may have run a
 *   new TARGET meanwhile, so, as after cmodx_entry_restore(), each TARGET
 *   must stay valid; the new records are kept, restored, and reused by a
 *   later redirection.
 * THREAD SAFETY
 *   Thread-safe; serialised with D's publishes.  Waits for other threads
 *   as D's strategy does.
 *   Parked meanwhile, as cmodx_patch_insn().
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API int cmodx_entry_redirect(cmodx_domain *d, cmodx_xptr function, cmodx_xptr target);
CMODX_API int cmodx_entry_redirect_slot(cmodx_domain *d, cmodx_xptr function,
                                        const cmodx_slot *slot);
CMODX_API int cmodx_entry_redirect_batch(cmodx_domain *d, const struct cmodx_entry_change *c,
                                         size_t n);

/*
 * NAME
 *   cmodx_entry_restore - let a redirected function run its own code again
 * DESCRIPTION
 *   Writes the NOP back over the patch point (the patch protocol, with its
 *   synchronisation).  The trampoline and the slot stay allocated and keep
 *   their target: the architecture does not bound when a thread that
 *   fetched the jump before stops running it (docs/PATCHING.md), so the
 *   last target must stay valid; a later redirection reuses both.
 *   Restoring a function that is not redirected does nothing.
 * RETURN VALUE
 *   0; EINVAL (not a patch point D redirected); EBUSY (the patch point was
 *   changed by someone else); a synchronisation error (still redirected).
 * THREAD SAFETY
 *   Thread-safe; serialised with D's publishes.  Waits for other threads
 *   as D's strategy does.
 *   Parked meanwhile, as cmodx_patch_insn().
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API int cmodx_entry_restore(cmodx_domain *d, cmodx_xptr function);

/*
 * NAME
 *   cmodx_entry_list - the patch points a domain knows
 * DESCRIPTION
 *   Fills OUT[0..CAP) with the patch points D has redirected at least once
 *   (restored ones included, REDIRECTED 0), oldest first.
 * RETURN VALUE
 *   The number of patch points D knows (may exceed CAP: call again with a
 *   larger array).
 * THREAD SAFETY
 *   Thread-safe; a snapshot.
 *   Never waits for a grace period, but may wait for the process's patch
 *   lock, which writers hold while they wait: parked meanwhile (offline in
 *   every domain the caller is registered in).
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API size_t cmodx_entry_list(cmodx_domain *d, struct cmodx_entry_info *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
