/*
 * src/arch/patch.h - what the patching of code in place (src/slot/patch.c,
 * src/slot/entry.c) asks of an architecture: which instruction may
 * replace which while other threads execute it, the encodings of a jump
 * and of the entry trampoline, and, where the replacement needs a
 * breakpoint protocol (x86-64), how a thread that hit the breakpoint is
 * sent on.  One src/arch/<arch>-patch.c implements it; nothing above the
 * arch layer tests an architecture.
 */
#ifndef CMODX_SRC_ARCH_PATCH_H
#define CMODX_SRC_ARCH_PATCH_H

#include <stddef.h>
#include <stdint.h>

/* The longest instruction a patch may write, bytes. */
#define ARCH_PATCH_MAX 8

/* How this architecture replaces an instruction others may be executing. */
enum arch_patch_method {
    /* No rule of the architecture makes it safe: every patch is refused. */
    ARCH_PATCH_NONE,
    /* One aligned, single-copy-atomic store of the whole instruction: an
     * executing core sees the old or the new instruction (AArch64). */
    ARCH_PATCH_ATOMIC_STORE,
    /* The breakpoint protocol: the first byte becomes a breakpoint, every
     * thread is synchronised, the rest is written, every thread is
     * synchronised, the first byte is written, every thread is
     * synchronised; a thread that hits the breakpoint meanwhile is sent on
     * by a trap handler (x86-64). */
    ARCH_PATCH_BREAKPOINT,
};

enum arch_patch_method arch_patch_method(void);

/* Why patching is refused on this architecture (ARCH_PATCH_NONE), with
 * the documents it rests on; NULL where it is supported. */
const char *arch_patch_unsupported_reason(void);

/* On an architecture that patches nothing in place, its <arch>-patch.c
 * defines this reason and no-patch.c implements every function of this
 * header as a refusal that gives it (but the breakpoint protocol's:
 * no-breakpoint.c). */
extern const char arch_no_patch_reason[];

/* The size of every instruction a patch writes here (4 on AArch64, 5 on
 * x86-64), and the alignment its address needs (4; 1). */
size_t arch_patch_insn_size(void);
size_t arch_patch_insn_align(void);

/*
 * Is replacing OLD by NEW (arch_patch_insn_size() bytes each) at an
 * address other threads may be executing one of the replacements the
 * architecture allows?  0, or EINVAL with a reason in *WHY (a static
 * string naming which side is outside the allowed set).
 */
int arch_patch_allowed(const uint8_t *old, const uint8_t *new_insn, const char **why);

/* The NOP a patch point holds, arch_patch_insn_size() bytes. */
void arch_encode_nop(uint8_t *out);

/*
 * A direct jump (LINK 0) or call (LINK 1) at address AT to TARGET,
 * arch_patch_insn_size() bytes into OUT.  0; ERANGE when TARGET is out of
 * the instruction's reach (arch_jump_reach()); EINVAL when AT or TARGET is
 * misaligned; ENOTSUP where there is no patchable jump.
 */
int arch_encode_jump(uintptr_t at, uintptr_t target, int link, uint8_t *out);

/* The reach of that jump: |TARGET - AT| must stay below this many bytes
 * (AArch64 B: 128 MiB; x86-64 JMP rel32: 2 GiB, measured from AT + 5). */
uintptr_t arch_jump_reach(void);

/*
 * Function entries built with -fpatchable-function-entry.  Where in the
 * function at ENTRY (AVAIL readable bytes from it) is the patch point?
 * Skips a landing pad the compiler puts first (AArch64 BTI C, x86-64
 * ENDBR64).  0 and *OFFSET; EINVAL with *WHY when the entry does not
 * hold the expected NOP; ENOTSUP with *WHY when it holds a NOP sequence
 * that cannot be replaced safely here (x86-64: five one-byte NOPs).
 */
int arch_entry_patch_point(const uint8_t *entry, size_t avail, size_t *offset,
                           const char **why);

/*
 * The entry trampoline: arch_entry_tramp_size() bytes at DST (write view)
 * that, run at the execute address, load the pointer stored at
 * TARGET_CELL (plain load) and jump to it, preserving every argument
 * register and the return address.  Clobbers only the intra-procedure
 * scratch register(s) the ABI lets a veneer clobber at a call (AArch64
 * x16; x86-64 r11).
 */
size_t arch_entry_tramp_size(void);
void arch_emit_entry_tramp(void *dst, const void *const *target_cell);

/* ---- the breakpoint protocol (ARCH_PATCH_BREAKPOINT only) --------------- */
/* Every other architecture takes these from no-breakpoint.c (no-ops). */

/* The breakpoint instruction's first byte (x86-64: INT3, 0xcc). */
uint8_t arch_breakpoint_byte(void);

/* From the signal context UCTX of a SIGTRAP: the address of the breakpoint
 * that raised it (x86-64: RIP - 1), or 0 if this SIGTRAP was not raised by
 * the breakpoint instruction (SI_CODE says how it was sent). */
uintptr_t arch_trap_site(const void *uctx, int si_code);

/* Resume the interrupted thread in UCTX at SITE (to run what is there now). */
void arch_trap_resume_at(void *uctx, uintptr_t site);

/* Resume it as if it had executed INSN (arch_patch_insn_size() bytes, one
 * of the allowed set) at SITE.  Async-signal-safe. */
void arch_trap_emulate(void *uctx, uintptr_t site, const uint8_t *insn);

#endif
