/*
 * RISC-V 64.  fence.i orders instruction fetch after earlier stores on the
 * LOCAL hart only.  Other harts are reached through the riscv_flush_icache
 * system call with flags 0; with SYS_RISCV_FLUSH_ICACHE_LOCAL (1) the kernel
 * would only fence the calling hart and other harts running this process
 * would keep stale instructions.
 */
#include "arch/arch.h"

#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

const char cmodx_arch_id[] = "riscv64";

#define RISCV_NR_FLUSH_ICACHE 259
#define RISCV_FLUSH_ALL_HARTS 0 /* never SYS_RISCV_FLUSH_ICACHE_LOCAL */

/* fence.i, spelled as its encoding so no Zifencei assembler flag is needed. */
#define FENCE_I() __asm__ volatile(".4byte 0x0000100f" : : : "memory")

int arch_make_visible(uintptr_t begin, uintptr_t end)
{
    /* fence rw,rw: our code stores are globally visible before any hart's
     * fence.i that the kernel triggers (fence.i on a remote hart does not
     * order OUR stores). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!MUTANT(no_cache_flush) &&
        syscall(RISCV_NR_FLUSH_ICACHE, begin, end, RISCV_FLUSH_ALL_HARTS) != 0)
        return errno;
    /* The kernel fenced this hart already; fence.i again here costs little
     * and does not depend on that detail. */
    FENCE_I();
    return 0;
}

/* The system call is the maintenance; keep the sequence whole. */
int arch_make_visible_nosync(uintptr_t begin, uintptr_t end)
{
    return arch_make_visible(begin, end);
}

void arch_context_sync(void)
{
    FENCE_I();
}

void arch_barrier_complete(void)
{
    /* RVWMO: fence rw,rw orders every earlier access before every later
     * one; fence.i after it is ordered with it in program order. */
    __asm__ volatile("fence rw, rw" : : : "memory");
}

/* No user-visible cache geometry on RISC-V; 64 bytes is the line size of
 * every shipping RV64 application core. */
void arch_cpu_relax(void)
{
    __asm__ volatile(".4byte 0x0100000f" : : : "memory"); /* pause (Zihintpause); a no-op fence where absent */
}

size_t arch_cache_line_max(void) { return 64; }

size_t arch_insn_align(void) { return 4; }

/* All-zero bits are defined to be an illegal instruction: SIGILL. */
void arch_fill_trap(void *dst, size_t len)
{
    uint32_t *p = dst;
    for (size_t i = 0; i < len / 4; i++)
        p[i] = 0;
}

size_t arch_return_u32_size(void) { return 12; }

/* lui+addiw build the value sign-extended to 64 bits, which is how the
 * LP64 ABI returns a uint32_t in a0. */
size_t arch_emit_return_u32(void *dst, size_t cap, uint32_t value)
{
    if (cap < 12)
        return 0;
    uint32_t *p = dst;
    uint32_t hi20 = ((value + 0x800u) >> 12) & 0xfffffu;
    uint32_t lo12 = value & 0xfffu;
    p[0] = (hi20 << 12) | (10u << 7) | 0x37u;                /* lui a0, hi20 */
    p[1] = (lo12 << 20) | (10u << 15) | (10u << 7) | 0x1bu;  /* addiw a0, a0, lo12 */
    p[2] = 0x00008067u;                                      /* ret */
    return 12;
}

const char *arch_mprotect_unfit(void)
{
    return "TLB invalidation is broadcast in hardware there, without an interrupt, so it does "
           "not context-synchronise other cores";
}

/* RVWMO (without Ztso) is weakly ordered. */
int arch_memory_tso(void) { return 0; }

/* Trampoline stub, 48 bytes:
 *    0  auipc t1, 0           t1 = this stub
 *    4  addi  t1, t1, 16      t1 = &{domain, id}
 *    8  ld    t2, 16(t1)      cmodx_tramp_common (literal at 32)
 *   12  jr    t2
 *   16  .quad domain, id, cmodx_tramp_common, resync  */
size_t arch_tramp_stub_size(void) { return 48; }

void arch_emit_tramp_stub(void *dst, const void *domain, uint32_t id, arch_tramp_resync_fn resync)
{
    uint32_t *p = dst;
    uint64_t *lit = (uint64_t *)((char *)dst + 16);
    p[0] = 0x00000317u; /* auipc t1, 0 */
    p[1] = 0x01030313u; /* addi t1, t1, 16 */
    p[2] = 0x01033383u; /* ld t2, 16(t1) */
    p[3] = 0x00038067u; /* jalr x0, 0(t2) */
    lit[0] = (uint64_t)(uintptr_t)domain;
    lit[1] = id;
    lit[2] = (uint64_t)(uintptr_t)cmodx_tramp_common;
    lit[3] = (uint64_t)(uintptr_t)resync;
}
