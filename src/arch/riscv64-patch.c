/*
 * RISC-V 64: no patching of code in place.  The unprivileged ISA orders
 * instruction fetch after stores only through FENCE.I on the fetching hart
 * (Zifencei), and promises nothing about what a hart fetches from an
 * instruction that another hart is rewriting: without the Ziccif profile
 * option (naturally aligned instruction fetches are atomic; not
 * detectable by a user program on Linux 6.1) a fetch may see part of the
 * old and part of the new instruction, and with the C extension an
 * instruction may even be fetched as two 16-bit parcels.  Linux patched
 * its own RISC-V text under stop_machine() for that reason.  Every patch
 * is refused (EINVAL for an instruction, ENOTSUP for a function entry)
 * with this reason.  Slots (include/cmodx/slot.h) work here and need no
 * in-place patch.
 */
#include <errno.h>
#include <string.h>

#include "arch/patch.h"

static const char reason[] =
"RISC-V: no in-place patching (no fetch is atomic against another hart's store "
    "without Ziccif, which Linux does not report; docs/PATCHING.md): call through a slot";

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
