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
#include "arch/patch.h"

/* Every refusal of no-patch.c gives this reason. */
const char arch_no_patch_reason[] =
"RISC-V: no in-place patching (no fetch is atomic against another hart's store "
    "without Ziccif, which Linux does not report; docs/PATCHING.md): call through a slot";
