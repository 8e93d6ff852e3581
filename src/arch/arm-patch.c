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
#include "arch/patch.h"

/* Every refusal of no-patch.c gives this reason. */
const char arch_no_patch_reason[] =
"ARMv7: no in-place patching (Thumb-2 patch areas are 16-bit NOPs that one 32-bit "
    "branch cannot replace under the ARMv7 rule; docs/PATCHING.md): call through a slot";
