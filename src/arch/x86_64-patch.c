/*
 * x86-64: replacing one instruction while other threads execute it.
 *
 * Instruction fetch is coherent with stores, but a processor may have
 * fetched and decoded part of an instruction before another one rewrote
 * it, and the SDM (Vol. 3A, 8.1.3 "Handling Self- and Cross-Modifying
 * Code") asks an executing processor to serialise after the modification
 * and before it runs the new code.  A multi-byte instruction is therefore
 * replaced by the breakpoint protocol that Linux uses for its own text
 * (text_poke_bp in arch/x86/kernel/alternative.c): write INT3 over the
 * first byte, serialise every thread, write the remaining bytes, serialise
 * every thread, write the new first byte, serialise every thread.  A
 * thread that reaches the address meanwhile traps on the INT3 (a one-byte
 * instruction, so it sees the old first byte or the INT3, never a mix) and
 * the trap handler resumes it as if it had run the new instruction.  The
 * other bytes are never executed while they change, because every path to
 * them passes the first byte.  Both the old and the new instruction must
 * be single instructions of the same length, which the handler can
 * emulate: here the 5-byte NOP, JMP rel32 and CALL rel32.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>

#include "arch/patch.h"

static int is_nop5(const uint8_t *p)
{
    /* nopl disp8(%rax,%rax,1): 0f 1f 44 00 xx (gcc's alignment NOP has
     * disp8 0, clang's patchable entry 8; any disp8 is the same NOP). */
    return p[0] == 0x0f && p[1] == 0x1f && p[2] == 0x44 && p[3] == 0x00;
}

static int kind(const uint8_t *p)
{
    if (is_nop5(p))
        return 1;
    if (p[0] == 0xe9) /* jmp rel32 */
        return 2;
    if (p[0] == 0xe8) /* call rel32 */
        return 3;
    return 0;
}

enum arch_patch_method arch_patch_method(void) { return ARCH_PATCH_BREAKPOINT; }

const char *arch_patch_unsupported_reason(void) { return NULL; }

size_t arch_patch_insn_size(void) { return 5; }
size_t arch_patch_insn_align(void) { return 1; }

int arch_patch_allowed(const uint8_t *old, const uint8_t *new_insn, const char **why)
{
    int o = kind(old), n = kind(new_insn);
    if (o && n)
        return 0;
    *why = !o ? "the old bytes are not one 5-byte NOP, JMP rel32 or CALL rel32 (the breakpoint "
                "protocol replaces one instruction by one of the same length that the trap "
                "handler can emulate)"
              : "the new bytes are not one 5-byte NOP, JMP rel32 or CALL rel32 (the breakpoint "
                "protocol replaces one instruction by one of the same length that the trap "
                "handler can emulate)";
    return EINVAL;
}

void arch_encode_nop(uint8_t *out)
{
    static const uint8_t nop5[5] = {0x0f, 0x1f, 0x44, 0x00, 0x00};
    memcpy(out, nop5, 5);
}

uintptr_t arch_jump_reach(void) { return (uintptr_t)1 << 31; }

int arch_encode_jump(uintptr_t at, uintptr_t target, int link, uint8_t *out)
{
    intptr_t off = (intptr_t)(target - (at + 5)); /* rel32 counts from the next instruction */
    if (off < INT32_MIN || off > INT32_MAX)
        return ERANGE;
    int32_t rel = (int32_t)off;
    out[0] = link ? 0xe8 : 0xe9;
    memcpy(out + 1, &rel, 4);
    return 0;
}

int arch_entry_patch_point(const uint8_t *entry, size_t avail, size_t *offset, const char **why)
{
    size_t off = 0;
    static const uint8_t endbr64[4] = {0xf3, 0x0f, 0x1e, 0xfa};
    if (avail >= 4 && memcmp(entry, endbr64, 4) == 0)
        off = 4; /* -fcf-protection: the patch area follows the landing pad */
    if (avail >= off + 5 && is_nop5(entry + off)) {
        *offset = off;
        return 0;
    }
    if (avail >= off + 5 && memcmp(entry + off, "\x90\x90\x90\x90\x90", 5) == 0) {
        /* gcc's -fpatchable-function-entry=5 on x86-64: five NOP
         * instructions.  A thread preempted after the first of them would
         * resume inside the JMP's displacement once it is written: no
         * protocol can replace several instructions by one while threads
         * may stand between them. */
        *why = "the entry holds five one-byte NOPs (gcc on x86-64): a thread stopped between "
               "two would resume inside the jump; build it with clang (one 5-byte NOP)";
        return ENOTSUP;
    }
    *why = "the function entry does not hold the 5-byte NOP that -fpatchable-function-entry=5 "
           "emits (built without it, or patched by someone else)";
    return EINVAL;
}

/* The entry trampoline, 24 bytes:
 *    0  mov  r11, [rip+9]     r11 = TARGET_CELL (literal at 16); r11 is a
 *                             scratch register at calls and no argument
 *    7  jmp  [r11]            the slot's current target (plain load)
 *   10  int3 x6
 *   16  .quad TARGET_CELL
 * The return address stays on the stack: the target returns to the caller. */
size_t arch_entry_tramp_size(void) { return 24; }

void arch_emit_entry_tramp(void *dst, const void *const *target_cell)
{
    static const uint8_t code[16] = {0x4c, 0x8b, 0x1d, 9, 0, 0, 0, /* mov r11, [rip+9] */
                                     0x41, 0xff, 0x23,             /* jmp [r11] */
                                     0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc};
    uint64_t lit = (uint64_t)(uintptr_t)target_cell;
    memcpy(dst, code, sizeof code);
    memcpy((char *)dst + 16, &lit, 8);
}

/* ---- the breakpoint protocol's trap side --------------------------------- */

uint8_t arch_breakpoint_byte(void) { return 0xcc; }

uintptr_t arch_trap_site(const void *uctx, int si_code)
{
    /* INT3 raises SIGTRAP with SI_KERNEL; a SIGTRAP sent by kill, tgkill
     * or sigqueue has si_code <= 0 and is someone else's. */
    if (si_code <= 0)
        return 0;
    const ucontext_t *uc = uctx;
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP] - 1; /* RIP follows the INT3 */
}

void arch_trap_resume_at(void *uctx, uintptr_t site)
{
    ucontext_t *uc = uctx;
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)site;
}

void arch_trap_emulate(void *uctx, uintptr_t site, const uint8_t *insn)
{
    ucontext_t *uc = uctx;
    uintptr_t next = site + 5;
    int32_t rel;
    memcpy(&rel, insn + 1, 4);
    switch (kind(insn)) {
    case 2: /* jmp rel32 */
        uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(next + (intptr_t)rel);
        break;
    case 3: { /* call rel32: push the return address.  Below RSP lies at
               * most the interrupted function's red zone, which a
               * function that makes calls does not keep data in across
               * them, and the kernel put the signal frame below that. */
        uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP] - 8;
        memcpy((void *)sp, &next, 8);
        uc->uc_mcontext.gregs[REG_RSP] = (greg_t)sp;
        uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(next + (intptr_t)rel);
        break;
    }
    default: /* the 5-byte NOP */
        uc->uc_mcontext.gregs[REG_RIP] = (greg_t)next;
        break;
    }
}
