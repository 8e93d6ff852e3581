/*
 * ARMv7: no patching of code in place.  The ARMv7-A manual (DDI 0406C,
 * "Concurrent modification and execution of instructions") has its own
 * short list of instructions that may replace one another while other
 * cores execute them, but cmodx does not rely on it: code built for
 * Debian armhf is Thumb-2, where a patch area is 16-bit NOPs and a branch
 * is one 32-bit instruction made of two halfwords (replacing two
 * instructions by one is outside any such rule); user space cannot
 * maintain caches (the cacheflush system call does) nor, without
 * membarrier SYNC_CORE support on the kernel, context-synchronise other
 * threads; and cmodx-check does not model the ARMv7 rule, so no patch
 * could be checked.  Every patch is refused (EINVAL for an instruction,
 * ENOTSUP for a function entry) with this reason.  Slots
 * (include/cmodx/slot.h) work here and need no in-place patch.
 */
#include <errno.h>
#include <string.h>

#include "arch/patch.h"

static const char reason[] =
"ARMv7: no in-place patching (Thumb-2 patch areas are 16-bit NOPs that one 32-bit "
    "branch cannot replace under the ARMv7 rule; docs/PATCHING.md): call through a slot";

enum arch_patch_method arch_patch_method(void) { return ARCH_PATCH_NONE; }

const char *arch_patch_unsupported_reason(void) { return reason; }

size_t arch_patch_insn_size(void) { return 4; }
size_t arch_patch_insn_align(void) { return 4; }

int arch_patch_allowed(const uint8_t *old, const uint8_t *new_insn, const char **why)
{
    (void)old, (void)new_insn;
    *why = reason;
    return EINVAL;
}

void arch_encode_nop(uint8_t *out) { memset(out, 0, 4); }

uintptr_t arch_jump_reach(void) { return 0; }

int arch_encode_jump(uintptr_t at, uintptr_t target, int link, uint8_t *out)
{
    (void)at, (void)target, (void)link, (void)out;
    return ENOTSUP;
}

int arch_entry_patch_point(const uint8_t *entry, size_t avail, size_t *offset, const char **why)
{
    (void)entry, (void)avail, (void)offset;
    *why = reason;
    return ENOTSUP;
}

size_t arch_entry_tramp_size(void) { return 0; }
void arch_emit_entry_tramp(void *dst, const void *const *target_cell) { (void)dst, (void)target_cell; }

uint8_t arch_breakpoint_byte(void) { return 0; }
uintptr_t arch_trap_site(const void *uctx, int si_code)
{
    (void)uctx, (void)si_code;
    return 0;
}
void arch_trap_resume_at(void *uctx, uintptr_t site) { (void)uctx, (void)site; }
void arch_trap_emulate(void *uctx, uintptr_t site, const uint8_t *insn)
{
    (void)uctx, (void)site, (void)insn;
}
