/*
 * ARMv7 (A32).  User space cannot perform cache maintenance; Linux provides
 * the cacheflush system call (__ARM_NR_cacheflush), which cleans the data
 * cache and invalidates the instruction cache for the range on all cores
 * (maintenance by MVA is broadcast with the multiprocessing extensions).
 */
#include "arch/arch.h"

#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

const char cmodx_arch_id[] = "arm";

#define ARM_NR_CACHEFLUSH 0x0f0002

int arch_make_visible(uintptr_t begin, uintptr_t end)
{
    /* The kernel aligns the range to lines itself.  Returning from the
     * system call is an exception return, which context-synchronises the
     * calling thread; the explicit ISB below keeps that visible in code. */
    if (!MUTANT(no_cache_flush) && syscall(ARM_NR_CACHEFLUSH, begin, end, 0) != 0)
        return errno;
    __asm__ volatile("isb" : : : "memory");
    return 0;
}

/* The system call is the maintenance; keep the sequence whole. */
int arch_make_visible_nosync(uintptr_t begin, uintptr_t end)
{
    return arch_make_visible(begin, end);
}

void arch_context_sync(void)
{
    /* ISB is available to unprivileged code from ARMv7 on. */
    __asm__ volatile("isb" : : : "memory");
}

void arch_barrier_complete(void)
{
    /* DSB: no instruction after it executes until it completes (ARMv7). */
    __asm__ volatile("dsb ish" : : : "memory");
}

/* ARMv7 user space cannot read CTR; 64 bytes covers every ARMv7 core we
 * know of (Cortex-A7/A9/A15/A17: 32 or 64). */
void arch_cpu_relax(void)
{
    __asm__ volatile("yield" : : : "memory"); /* ARMv6K and later */
}

size_t arch_cache_line_max(void) { return 64; }

size_t arch_insn_align(void) { return 4; }

/* A32 UDF #0 (0xe7f000f0): permanently undefined, raises SIGILL. */
#define A32_UDF 0xe7f000f0u

void arch_fill_trap(void *dst, size_t len)
{
    uint32_t *p = dst;
    for (size_t i = 0; i < len / 4; i++)
        p[i] = A32_UDF;
}

size_t arch_return_u32_size(void) { return 12; }

/* A32 code (bit 0 of the address clear); a Thumb caller reaches it with
 * BLX, which interworks. */
size_t arch_emit_return_u32(void *dst, size_t cap, uint32_t value)
{
    if (cap < 12)
        return 0;
    uint32_t *p = dst;
    uint32_t lo = value & 0xffffu, hi = value >> 16;
    p[0] = 0xe3000000u | ((lo >> 12) << 16) | (lo & 0xfffu); /* movw r0, #lo */
    p[1] = 0xe3400000u | ((hi >> 12) << 16) | (hi & 0xfffu); /* movt r0, #hi */
    p[2] = 0xe12fff1eu;                                      /* bx lr */
    return 12;
}

const char *arch_mprotect_unfit(void)
{
    return "TLB invalidation is broadcast in hardware there, without an interrupt, so it does "
           "not context-synchronise other cores";
}

/* ARMv7 is weakly ordered. */
int arch_memory_tso(void) { return 0; }

/* Trampoline stub (A32), 32 bytes:
 *    0  add  r12, pc, #8      r12 = &{domain, id} (pc reads as . + 8)
 *    4  ldr  pc, [pc, #12]    cmodx_tramp_common (literal at 24; interworks)
 *    8  udf, udf
 *   16  .word domain, id, cmodx_tramp_common, resync  */
size_t arch_tramp_stub_size(void) { return 32; }

void arch_emit_tramp_stub(void *dst, const void *domain, uint32_t id, arch_tramp_resync_fn resync)
{
    uint32_t *p = dst;
    p[0] = 0xe28fc008u; /* add r12, pc, #8 */
    p[1] = 0xe59ff00cu; /* ldr pc, [pc, #12] */
    p[2] = A32_UDF;
    p[3] = A32_UDF;
    p[4] = (uint32_t)(uintptr_t)domain;
    p[5] = id;
    p[6] = (uint32_t)(uintptr_t)cmodx_tramp_common;
    p[7] = (uint32_t)(uintptr_t)resync;
}
