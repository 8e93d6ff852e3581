/*
 * cmodx-check — what the kernel does for the guest: system calls, the
 * private cache-flush calls, the vDSO, signal handler registration, faults
 * of cache maintenance (see syscall.c).
 */
#ifndef CMODX_SYSCALL_H
#define CMODX_SYSCALL_H

#include <qemu-plugin.h>

#include "cmodx_check.h"

/* The vcpu of plugin index idx (shared by every plugin file). */
struct vcpu *cur(unsigned idx);

/* The caller of system call num (first argument a1) may create a thread
 * that shares its memory (clone or clone3 with CLONE_VM): loads and stores
 * keep the shadow of memory from now on (plugin.c).  Called before the
 * call runs, holding the scoreboard gate (gate.h).  True when the call
 * creates a vCPU: the caller then closes the gate (gate_spawn) once it
 * has left it. */
bool plugin_syscall_clone(int64_t num, uint64_t a1);

/* The calling thread's vcpu_init has run; runs it when qemu skipped it
 * (plugin.c).  Called first in every system call callback. */
void plugin_vcpu_check(unsigned idx);

/* The calling thread's system call returned ret: when it was a clone that
 * was to create a vCPU and failed, the creation is over (gate_spawned).
 * Called first, before the gate is entered (the gate waits for the
 * creation). */
void plugin_clone_returned(int64_t ret);

/* A system call returned: if its thread is the last live one, with no
 * other announced, the callbacks go back to the one-thread mode
 * (plugin.c, go_one). */
void plugin_syscall_returned(void);

/* The caller of a system call that may unmap guest memory: direct reads
 * of it stop until the call returns (model.c, model_reads_stop). */
void plugin_reads_stop(unsigned idx);

/* Guest register r (x0..x30, r0..r15, a0..a7 by number); 0 if unknown. */
uint64_t read_reg(unsigned r);

/* Choose the guest's system-call numbers; false for an unknown target. */
bool sys_set_arch(const char *target);

/* Registers the syscall callbacks with qemu. */
void sys_register(qemu_plugin_id_t id);

/*
 * Called for every translation block: reads the auxiliary vector at the
 * process's first instruction and instruments the vDSO's entry points.
 */
void sys_instrument_tb(struct qemu_plugin_tb *tb);

/*
 * The SVC/ECALL instruction of v is executing: qemu-user implements ARM's
 * cacheflush and RISC-V's riscv_flush_icache in its CPU loop, where no
 * syscall callback sees them.  Caller holds model_lock.
 */
void sys_private_call(struct vcpu *v);

/*
 * RISC-V fence.i by v (plugin index idx): credited to v only when the
 * process asked Linux to keep it across migrations.  Caller holds
 * model_lock.
 */
void sys_fence_i(struct vcpu *v, unsigned idx);
/* A thread starts on record REC (plugin.c, vcpu_init): the per-thread
 * state a thread that held it before left is dropped. */
void sys_thread_start(unsigned rec);
/* True when v executed an uncredited fence.i after the word at pc was
 * written (the report then names the migration rule). */
bool sys_fence_i_after(const struct vcpu *v, uint64_t pc);

/* CTR_EL0 as the program sees it (L1Ip, bits 15:14, for VIPT aliasing). */
extern uint64_t sys_ctr_el0;

/*
 * True (once) when the IC IVAU that vcpu idx is executing does not reach
 * the lines an instruction fetch would use: CTR_EL0.L1Ip says VIPT, the
 * address is a view without PROT_EXEC of memory executable through
 * another view (see syscall.c).  Caller holds model_lock.
 */
bool sys_ic_misses_fetch_alias(unsigned idx);

/* Is guest memory at va mapped readable (qemu's page table)? */
bool sys_readable(uint64_t va);

/*
 * The guest's [va, va+len) now holds bytes (NULL: as in memory now; fill
 * >= 0: that byte repeated), written by v at pc (0: by the kernel).
 * Caller holds model_lock.
 */
void sys_store_range(struct vcpu *v, uint64_t va, uint64_t len, const uint8_t *bytes,
                     int fill, uint64_t pc);

/* True when va is the entry point of a registered signal handler. */
bool sys_is_handler(uint64_t va);
/* Number of registered signal handlers (0: skip the lookup). */
unsigned sys_nhandlers(void);

#endif
