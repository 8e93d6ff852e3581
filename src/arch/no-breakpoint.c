/*
 * The breakpoint protocol's functions (arch/patch.h, ARCH_PATCH_BREAKPOINT
 * only) for an architecture that does not use it: AArch64 (one atomic
 * store replaces an instruction) and the architectures that patch nothing
 * in place (ARMv7, RISC-V 64).  Only the breakpoint protocol calls them
 * (src/patch/patch.c), and it runs only where arch_patch_method() is
 * ARCH_PATCH_BREAKPOINT (x86-64, whose x86_64-patch.c defines them).
 */
#include "arch/patch.h"

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
