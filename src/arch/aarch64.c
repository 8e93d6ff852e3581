/*
 * AArch64.  The instruction cache is not coherent with data stores; the
 * sequence below is the one the Arm ARM gives for making modified
 * instructions visible ("Concurrent modification and execution of
 * instructions", and the cache maintenance chapter), in the form the Linux
 * kernel uses in caches_clean_inval_pou.
 */
#include "arch/arch.h"

const char cmodx_arch_id[] = "aarch64";

#define CTR_IDC (1ull << 28) /* D-cache clean to PoU not required for I/D coherence */
#define CTR_DIC (1ull << 29) /* I-cache invalidation to PoU not required */

/* CTR_EL0 is read at every call, never cached: on big.LITTLE systems cores
 * report different line sizes and this thread may migrate between calls.
 * (Where the kernel traps the read, it returns the system-wide safe value.) */
static inline uint64_t read_ctr(void)
{
    uint64_t ctr;
    __asm__ volatile("mrs %0, ctr_el0" : "=r"(ctr));
    return ctr;
}

/* DminLine (bits 19:16) and IminLine (bits 3:0) are log2 of 4-byte words. */
static inline uintptr_t dline(uint64_t ctr) { return 4u << ((ctr >> 16) & 0xf); }
static inline uintptr_t iline(uint64_t ctr) { return 4u << (ctr & 0xf); }

int arch_make_visible_nosync(uintptr_t begin, uintptr_t end)
{
    uint64_t ctr = read_ctr();

    if (!(ctr & CTR_IDC) && !MUTANT(no_dc_clean)) {
        /* 1. Clean every data line of the range to the Point of
         *    Unification, where instruction fetch looks.  The start is
         *    aligned down so a range beginning mid-line covers that line. */
        uintptr_t step = dline(ctr);
        for (uintptr_t a = begin & ~(step - 1); a < end; a += step)
            __asm__ volatile("dc cvau, %0" : : "r"(a) : "memory");
    }
    /* 2. DSB ISH: the cleans (or, with IDC, the stores themselves) complete
     *    for the inner-shareable domain before any invalidate below. */
    if (!MUTANT(no_dsb_after_clean))
        __asm__ volatile("dsb ish" : : : "memory");

    if (!(ctr & CTR_DIC) && !MUTANT(no_ic_invalidate)) {
        /* 3. Invalidate every instruction line to PoU; IC IVAU is
         *    broadcast to all cores of the inner-shareable domain. */
        uintptr_t step = iline(ctr);
        for (uintptr_t a = begin & ~(step - 1); a < end; a += step)
            __asm__ volatile("ic ivau, %0" : : "r"(a) : "memory");
        /* 4. DSB ISH: the invalidates complete on every core before we go
         *    on (and before a later slot store can be observed). */
        if (!MUTANT(no_dsb_after_invalidate))
            __asm__ volatile("dsb ish" : : : "memory");
    }
    return 0;
}

int arch_make_visible(uintptr_t begin, uintptr_t end)
{
    arch_make_visible_nosync(begin, end);
    /* 5. ISB: this thread discards anything it prefetched; other threads
     *    need their own context synchronisation (src/sync.c). */
    if (!MUTANT(no_writer_isb))
        __asm__ volatile("isb" : : : "memory");
    return 0;
}

void arch_context_sync(void)
{
    __asm__ volatile("isb" : : : "memory");
}

void arch_barrier_complete(void)
{
    /* DSB: no instruction after it executes until it completes. */
    __asm__ volatile("dsb ish" : : : "memory");
}

void arch_cpu_relax(void)
{
    __asm__ volatile("yield" : : : "memory");
}

size_t arch_cache_line_max(void)
{
    uint64_t ctr = read_ctr();
    uintptr_t d = dline(ctr), i = iline(ctr);
    /* CWG (bits 27:24), when reported, bounds the largest line in any cache
     * the core writes back; use it too so blocks never share such a line. */
    uint64_t cwg = (ctr >> 24) & 0xf;
    uintptr_t w = cwg ? (uintptr_t)4u << cwg : 0;
    uintptr_t m = d > i ? d : i;
    return m > w ? m : w;
}

size_t arch_insn_align(void) { return 4; }

/* UDF #0xdead: permanently undefined, raises SIGILL. */
#define A64_UDF 0x0000deadu

void arch_fill_trap(void *dst, size_t len)
{
    uint32_t *p = dst;
    for (size_t i = 0; i < len / 4; i++)
        p[i] = A64_UDF;
}

size_t arch_return_u32_size(void) { return 12; }

size_t arch_emit_return_u32(void *dst, size_t cap, uint32_t value)
{
    if (cap < 12)
        return 0;
    uint32_t *p = dst;
    p[0] = 0x52800000u | ((value & 0xffffu) << 5);      /* movz w0, #lo16 */
    p[1] = 0x72a00000u | ((value >> 16) << 5);          /* movk w0, #hi16, lsl #16 */
    p[2] = 0xd65f03c0u;                                 /* ret */
    return 12;
}

/* TLB invalidation is broadcast in hardware (TLBI ... IS) with no
 * interrupt, so an mprotect does not context-synchronise other cores. */
const char *arch_mprotect_unfit(void)
{
    return "TLB invalidation is broadcast in hardware there, without an interrupt, so it does "
           "not context-synchronise other cores";
}

/* Weakly ordered: loads may pass loads (only barriers, acquire/release
 * and dependencies order them). */
int arch_memory_tso(void) { return 0; }

/* Trampoline stub, 48 bytes:
 *    0  adr  x17, #16       x17 = &{domain, id} (IP1: free to clobber at a call)
 *    4  ldr  x16, #28       x16 = cmodx_tramp_common (literal at 32)
 *    8  br   x16
 *   12  udf
 *   16  .quad domain, id, cmodx_tramp_common, resync  */
size_t arch_tramp_stub_size(void) { return 48; }

void arch_emit_tramp_stub(void *dst, const void *domain, uint32_t id, arch_tramp_resync_fn resync)
{
    uint32_t *p = dst;
    uint64_t *lit = (uint64_t *)((char *)dst + 16);
    p[0] = 0x10000000u | (4u << 5) | 17u; /* adr x17, #16 */
    p[1] = 0x58000000u | (7u << 5) | 16u; /* ldr x16, #28 */
    p[2] = 0xd61f0200u;                   /* br x16 */
    p[3] = A64_UDF;
    lit[0] = (uint64_t)(uintptr_t)domain;
    lit[1] = id;
    lit[2] = (uint64_t)(uintptr_t)cmodx_tramp_common;
    lit[3] = (uint64_t)(uintptr_t)resync;
}
