/*
 * x86-64.  Instruction fetch is coherent with data stores, so no cache
 * maintenance exists or is needed.  The SDM's cross-modifying-code rule
 * (Vol. 3A, 8.1.3) still asks every processor that executes modified code
 * to execute a serialising instruction after the modification and before
 * running it; for the writing thread that is done here, for the others by
 * the cross-thread synchronisation (src/sync.c).
 */
#include "arch/arch.h"

#include <cpuid.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

const char cmodx_arch_id[] = "x86_64";

/* Serialising instructions, cheapest first: SERIALIZE
 * (CPUID.(EAX=7,ECX=0):EDX[14]); else IRET to the next instruction; CPUID
 * is serialising too but exits to the hypervisor in a VM (measured here:
 * several microseconds).  CMODX_X86_SYNC=cpuid forces CPUID, for tools
 * that do not emulate IRET in user mode. */
void cmodx_x86_iret_to_self(void); /* x86_64-stub.S */

enum { SYNC_UNKNOWN = -1, SYNC_CPUID, SYNC_IRET, SYNC_SERIALIZE };
static int choose_sync(void)
{
    const char *force = getenv("CMODX_X86_SYNC");
    if (force && strcmp(force, "cpuid") == 0)
        return SYNC_CPUID;
    unsigned a, b, c, d;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 14)))
        return SYNC_SERIALIZE;
    return SYNC_IRET;
}

void arch_barrier_complete(void)
{
    /* MFENCE drains the store buffer; the serialising instruction that
     * follows it would too. */
    __asm__ volatile("mfence" : : : "memory");
}

void arch_context_sync(void)
{
    static int how = SYNC_UNKNOWN; /* ISA features are identical on every core */
    int h = __atomic_load_n(&how, __ATOMIC_RELAXED);
    if (h == SYNC_UNKNOWN) {
        h = choose_sync();
        __atomic_store_n(&how, h, __ATOMIC_RELAXED);
    }
    if (h == SYNC_SERIALIZE) {
        __asm__ volatile(".byte 0x0f, 0x01, 0xe8" : : : "memory"); /* serialize */
    } else if (h == SYNC_IRET) {
        cmodx_x86_iret_to_self();
        __asm__ volatile("" : : : "memory");
    } else {
        unsigned ra = 0, rb, rc = 0, rd;
        __asm__ volatile("cpuid" : "+a"(ra), "=b"(rb), "+c"(rc), "=d"(rd) : : "memory");
    }
}

/* Coherent: there is no maintenance, only the serialisation. */
int arch_make_visible_nosync(uintptr_t begin, uintptr_t end)
{
    (void)begin;
    (void)end;
    return 0;
}

int arch_make_visible(uintptr_t begin, uintptr_t end)
{
    (void)begin;
    (void)end;
    /* The stores are already coherent with instruction fetch; what remains
     * is the executing (here: calling) processor's serialising step. */
    arch_context_sync();
    return 0;
}

void arch_cpu_relax(void)
{
    __asm__ volatile("pause" : : : "memory");
}

size_t arch_cache_line_max(void)
{
    /* CPUID.1:EBX[15:8] is the CLFLUSH line size in 8-byte units. */
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d) && ((b >> 8) & 0xff))
        return ((b >> 8) & 0xff) * 8u;
    return 64;
}

size_t arch_insn_align(void) { return 1; }

/* INT3 (0xcc) in every byte: any entry point traps with SIGTRAP. */
void arch_fill_trap(void *dst, size_t len)
{
    memset(dst, 0xcc, len);
}

size_t arch_return_u32_size(void) { return 6; }

size_t arch_emit_return_u32(void *dst, size_t cap, uint32_t value)
{
    if (cap < 6)
        return 0;
    unsigned char *p = dst;
    p[0] = 0xb8; /* mov eax, imm32 */
    memcpy(p + 1, &value, 4);
    p[5] = 0xc3; /* ret */
    return 6;
}

/*
 * A TLB shootdown on x86 is an IPI, and the interrupt return (IRET) on the
 * target core is serialising: the mprotect strategy's premise.  It fails
 * where the kernel invalidates without interrupting the other cores:
 *  - AMD's INVLPGB broadcast invalidation (CPUID 0x80000008 EBX bit 3),
 *    which Linux uses for multi-threaded processes from 6.15 on;
 *  - a hypervisor's paravirtual flush: KVM's (CPUID 0x40000001 EAX bit 9,
 *    KVM_FEATURE_PV_TLB_FLUSH) marks a preempted vCPU to flush when it next
 *    runs instead of sending it an IPI, and Hyper-V's and Xen's flush
 *    hypercalls do the same work without guest interrupts.  KVM without
 *    that feature delivers real IPIs to the guest.
 * So the strategy is allowed only where the CPU lacks INVLPGB (or the kernel
 * predates 6.15) and either no hypervisor is present or it is KVM without
 * paravirtual flushes.
 */
static int kernel_at_least(int major, int minor)
{
    struct utsname u;
    int ma = 0, mi = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
        return 1; /* unknown: assume the newer kernel (the unsafe one) */
    return ma > major || (ma == major && mi >= minor);
}

const char *arch_mprotect_unfit(void)
{
    unsigned a, b, c, d;
    if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000008 &&
        __get_cpuid(0x80000008, &a, &b, &c, &d) && (b & (1u << 3)) && kernel_at_least(6, 15))
        return "the CPU has INVLPGB, which Linux 6.15 and later use to invalidate TLBs by "
               "broadcast, without interrupting the other cores";
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 31)))
        return NULL; /* no hypervisor */
    char sig[13];
    __cpuid(0x40000000, a, b, c, d);
    memcpy(sig, &b, 4);
    memcpy(sig + 4, &c, 4);
    memcpy(sig + 8, &d, 4);
    sig[12] = 0;
    if (strcmp(sig, "KVMKVMKVM") != 0)
        return "under a hypervisor other than KVM, whose TLB flush hypercalls may skip "
               "preempted vCPUs instead of interrupting them";
    if (a < 0x40000001)
        return NULL;
    __cpuid(0x40000001, a, b, c, d);
    if (a & (1u << 9))
        return "the KVM hypervisor offers paravirtual TLB flushes, which skip a preempted vCPU "
               "(it flushes when it runs again, without an interrupt)";
    return NULL;
}

/* x86-TSO: loads in order with loads, stores in order with stores. */
int arch_memory_tso(void) { return 1; }

/* Trampoline stub, 48 bytes:
 *    0  lea  r11, [rip+9]     r11 = &{domain, id} (scratch, not an argument)
 *    7  jmp  [rip+19]         cmodx_tramp_common (literal at 32)
 *   13  int3 x3
 *   16  .quad domain, id, cmodx_tramp_common, resync  */
size_t arch_tramp_stub_size(void) { return 48; }

void arch_emit_tramp_stub(void *dst, const void *domain, uint32_t id, arch_tramp_resync_fn resync)
{
    unsigned char *p = dst;
    static const unsigned char code[16] = {0x4c, 0x8d, 0x1d, 9, 0, 0, 0,  /* lea r11,[rip+9] */
                                           0xff, 0x25, 19, 0, 0, 0,       /* jmp [rip+19] */
                                           0xcc, 0xcc, 0xcc};
    uint64_t lit[4] = {(uint64_t)(uintptr_t)domain, id, (uint64_t)(uintptr_t)cmodx_tramp_common,
                       (uint64_t)(uintptr_t)resync};
    memcpy(p, code, sizeof code);
    memcpy(p + 16, lit, sizeof lit);
}
