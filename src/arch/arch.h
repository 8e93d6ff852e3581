/*
 * src/arch/arch.h - the one internal interface between cmodx and an
 * architecture.  Exactly one src/arch/<arch>.c is compiled (CMake picks it
 * from the target processor); nothing outside src/arch/ tests an
 * architecture macro.
 */
#ifndef CMODX_SRC_ARCH_ARCH_H
#define CMODX_SRC_ARCH_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h" /* MUTANT() */

/* "x86_64", "aarch64", "arm" or "riscv64". */
extern const char cmodx_arch_id[];

/*
 * Make the bytes stored (through any mapping) into [begin, end) of the
 * EXECUTE view visible to instruction fetch on every core, then
 * context-synchronise the calling thread.  Returns 0 or an errno.
 * Other threads are NOT context-synchronised: that is the strategies'
 * job (src/strategy/).
 */
int arch_make_visible(uintptr_t begin, uintptr_t end);

/* The same without the final local context synchronisation, for batches
 * (which synchronise the writer once after all blocks). */
int arch_make_visible_nosync(uintptr_t begin, uintptr_t end);

/* The local context-synchronisation instruction (ISB, fence.i, a
 * serialising instruction).  Async-signal-safe. */
void arch_context_sync(void);

/* A full barrier that completes before any later instruction executes
 * (DSB ISH; fence rw,rw; MFENCE): what a context synchronisation must
 * follow when it has to come after this thread's earlier stores are
 * visible to other threads.  A DMB orders memory accesses only, not the
 * ISB that follows it (Arm ARM B2.3, "Memory barriers": DSB vs DMB).
 * Async-signal-safe. */
void arch_barrier_complete(void);

/* A spin-wait hint (PAUSE, YIELD, pause). */
void arch_cpu_relax(void);

/* Largest data or instruction cache line of the calling core, bytes. */
size_t arch_cache_line_max(void);

/* Instruction alignment and the trap instruction used to fill free space. */
size_t arch_insn_align(void);
void arch_fill_trap(void *dst, size_t len);

/* Encode "return value" for uint32_t (*)(void); returns bytes, 0 if cap
 * is too small. */
size_t arch_emit_return_u32(void *dst, size_t cap, uint32_t value);
size_t arch_return_u32_size(void);

/* Trampoline strategy (src/strategy/trampoline.c): the per-slot-id stub,
 * arch_tramp_stub_size() bytes at DST (write view).  Inside the stub are
 * the literals {DOMAIN, ID, cmodx_tramp_common, RESYNC}.  The stub puts
 * their address in the architecture's scratch register and jumps to
 * cmodx_tramp_common (src/arch/<arch>-stub.S), which saves the argument
 * registers, calls RESYNC with the literals' address, restores them and
 * jumps to the address RESYNC returned.  RESYNC is passed in, not named
 * here, so that the architecture layer calls nothing above it. */
typedef const void *(*arch_tramp_resync_fn)(const void *literals);
size_t arch_tramp_stub_size(void);
void arch_emit_tramp_stub(void *dst, const void *domain, uint32_t id, arch_tramp_resync_fn resync);
extern const char cmodx_tramp_common[];

/* NULL if the mprotect TLB-shootdown trick is known to serialise every
 * other core here (the shootdown is an interrupt to each core that runs
 * the process, whose return is serialising), else why it cannot be
 * established.  Only x86-64 can return NULL, and only where neither the
 * CPU's broadcast invalidation nor a hypervisor's flush hypercall may
 * replace the interrupt (src/arch/x86_64.c). */
const char *arch_mprotect_unfit(void);

/* Whether the processor orders memory as TSO: loads are not reordered
 * with older loads, stores not with older loads or stores (only a store
 * followed by a load may be).  True only on x86-64 (Intel SDM vol. 3A,
 * "Memory Ordering in P6 and More Recent Processor Families").
 * Reclamation then needs no membarrier to start a grace period
 * (src/thread/reclaim.c). */
int arch_memory_tso(void);

#endif
