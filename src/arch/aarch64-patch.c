/*
 * AArch64: replacing one instruction while other cores execute it.
 *
 * The rule (Arm ARM, DDI 0487, B2.2.5 "Concurrent modification and
 * execution of instructions"): concurrent modification and execution of
 * instructions can have any behaviour achievable by executing any
 * sequence of instructions at the same exception level, EXCEPT where both
 * the instruction before and the instruction after the modification are
 * one of B, BL, BRK, HVC, ISB, NOP, SMC or SVC: then an executing core
 * behaves as if it ran either the old or the new instruction.  The
 * modification must be a single-copy-atomic store of the whole
 * instruction (an aligned 32-bit store).  The rule promises no torn
 * instruction, not that the new one is ever fetched: for that the writer
 * still makes it visible (DC CVAU, DSB, IC IVAU, DSB, ISB) and every other
 * thread context-synchronises afterwards (src/slot/patch.c).
 */
#include <errno.h>
#include <string.h>

#include "arch/patch.h"

#define A64_NOP 0xd503201fu
#define A64_BTI_C 0xd503245fu
#define A64_BTI_JC 0xd50324dfu
#define A64_UDF 0x0000deadu

static uint32_t word(const uint8_t *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    return w;
}

/* The set of B2.2.5. */
static int replaceable(uint32_t i)
{
    return (i & 0xfc000000u) == 0x14000000u ||  /* B imm26 */
           (i & 0xfc000000u) == 0x94000000u ||  /* BL imm26 */
           i == A64_NOP ||                      /* NOP (the hint, not other hints) */
           (i & 0xffe0001fu) == 0xd4200000u ||  /* BRK #imm16 */
           (i & 0xffe0001fu) == 0xd4000001u ||  /* SVC #imm16 */
           (i & 0xffe0001fu) == 0xd4000002u ||  /* HVC #imm16 */
           (i & 0xffe0001fu) == 0xd4000003u ||  /* SMC #imm16 */
           (i & 0xfffff0ffu) == 0xd50330dfu;    /* ISB (any option) */
}

enum arch_patch_method arch_patch_method(void) { return ARCH_PATCH_ATOMIC_STORE; }

const char *arch_patch_unsupported_reason(void) { return NULL; }

size_t arch_patch_insn_size(void) { return 4; }
size_t arch_patch_insn_align(void) { return 4; }

int arch_patch_allowed(const uint8_t *old, const uint8_t *new_insn, const char **why)
{
    int o = replaceable(word(old)), n = replaceable(word(new_insn));
    if (o && n)
        return 0;
    *why = !o && !n ? "neither the old nor the new instruction is one of B, BL, NOP, BRK, SVC, "
                      "HVC, SMC, ISB (Arm ARM B2.2.5)"
           : !o     ? "the old instruction is not one of B, BL, NOP, BRK, SVC, HVC, SMC, ISB "
                      "(Arm ARM B2.2.5)"
                    : "the new instruction is not one of B, BL, NOP, BRK, SVC, HVC, SMC, ISB "
                      "(Arm ARM B2.2.5)";
    return EINVAL;
}

void arch_encode_nop(uint8_t *out)
{
    uint32_t w = A64_NOP;
    memcpy(out, &w, 4);
}

uintptr_t arch_jump_reach(void) { return (uintptr_t)128 << 20; }

int arch_encode_jump(uintptr_t at, uintptr_t target, int link, uint8_t *out)
{
    if ((at | target) & 3)
        return EINVAL;
    intptr_t off = (intptr_t)(target - at);
    /* imm26 counts words: -2^25 .. 2^25-1 words, i.e. [-128 MiB, 128 MiB). */
    if (off < -(intptr_t)((uintptr_t)128 << 20) || off >= (intptr_t)((uintptr_t)128 << 20))
        return ERANGE;
    uint32_t w = (link ? 0x94000000u : 0x14000000u) | ((uint32_t)(off >> 2) & 0x03ffffffu);
    memcpy(out, &w, 4);
    return 0;
}

int arch_entry_patch_point(const uint8_t *entry, size_t avail, size_t *offset, const char **why)
{
    size_t off = 0;
    if (avail >= 4 && (word(entry) == A64_BTI_C || word(entry) == A64_BTI_JC))
        off = 4; /* -mbranch-protection: the patch area follows the landing pad */
    if (avail < off + 4 || word(entry + off) != A64_NOP) {
        *why = "the function entry does not hold the NOP that -fpatchable-function-entry "
               "emits (built without it, or patched by someone else)";
        return EINVAL;
    }
    *offset = off;
    return 0;
}

/* The entry trampoline, 24 bytes:
 *    0  ldr  x16, #16        x16 = TARGET_CELL (literal at 16)
 *    4  ldr  x16, [x16]      the slot's current target (plain load: the
 *                            writer synchronised every thread before it
 *                            switched the slot)
 *    8  br   x16             x16 (IP0) may be clobbered by any veneer at a
 *                            call, and BR x16 may land on a BTI C pad
 *   12  udf
 *   16  .quad TARGET_CELL
 * The link register is untouched: the target returns to the caller. */
size_t arch_entry_tramp_size(void) { return 24; }

void arch_emit_entry_tramp(void *dst, const void *const *target_cell)
{
    uint32_t code[4] = {0x58000000u | (4u << 5) | 16u, /* ldr x16, #16 */
                        0xf9400000u | (16u << 5) | 16u, /* ldr x16, [x16] */
                        0xd61f0200u,                    /* br x16 */
                        A64_UDF};
    uint64_t lit = (uint64_t)(uintptr_t)target_cell;
    memcpy(dst, code, sizeof code);
    memcpy((char *)dst + 16, &lit, 8);
}
