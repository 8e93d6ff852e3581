/*
 * cmodx-check — what the kernel does for the guest: system calls, the
 * private cache-flush calls, signal handler registration (see syscall.c).
 */
#ifndef CMODX_SYSCALL_H
#define CMODX_SYSCALL_H

#include <qemu-plugin.h>

#include "cmodx_check.h"

/* The vcpu of plugin index idx (shared by every plugin file). */
struct vcpu *cur(unsigned idx);

/* Guest register r (x0..x30, r0..r15, a0..a7 by number); 0 if unknown. */
uint64_t read_reg(unsigned r);

/* Choose the guest's system-call numbers; false for an unknown target. */
bool sys_set_arch(const char *target);

/* Registers the syscall callbacks with qemu. */
void sys_register(qemu_plugin_id_t id);

/*
 * The SVC/ECALL instruction of v is executing: qemu-user implements ARM's
 * cacheflush and RISC-V's riscv_flush_icache in its CPU loop, where no
 * syscall callback sees them.  Caller holds model_lock.
 */
void sys_private_call(struct vcpu *v);

/* True when va is the entry point of a registered signal handler. */
bool sys_is_handler(uint64_t va);
/* Number of registered signal handlers (0: skip the lookup). */
unsigned sys_nhandlers(void);

#endif
