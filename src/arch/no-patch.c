/*
 * The patch interface (arch/patch.h) of an architecture on which cmodx
 * patches no code in place (ARMv7, RISC-V 64).  Each such architecture's
 * <arch>-patch.c states the architecture rule that rules patching out and
 * defines arch_no_patch_reason, the one-line reason that every refusal
 * below returns: EINVAL for an instruction, ENOTSUP for a function entry.
 * Slots (include/cmodx/slot.h) need no in-place patch and work there.
 * The breakpoint protocol's functions are in no-breakpoint.c.
 */
#include <errno.h>
#include <string.h>

#include "arch/patch.h"

enum arch_patch_method arch_patch_method(void) { return ARCH_PATCH_NONE; }

const char *arch_patch_unsupported_reason(void) { return arch_no_patch_reason; }

size_t arch_patch_insn_size(void) { return 4; }
size_t arch_patch_insn_align(void) { return 4; }

int arch_patch_allowed(const uint8_t *old, const uint8_t *new_insn, const char **why)
{
    (void)old, (void)new_insn;
    *why = arch_no_patch_reason;
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
    *why = arch_no_patch_reason;
    return ENOTSUP;
}

size_t arch_entry_tramp_size(void) { return 0; }
void arch_emit_entry_tramp(void *dst, const void *const *target_cell) { (void)dst, (void)target_cell; }
