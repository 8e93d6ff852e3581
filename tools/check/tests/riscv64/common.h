/*
 * Helpers of the cmodx-check validation programs (RISC-V 64).
 * fence.i orders instruction fetch on the executing hart only;
 * riscv_flush_icache(2) reaches every hart of the process with flags 0,
 * only the calling one with SYS_RISCV_FLUSH_ICACHE_LOCAL.
 */
#ifndef CHECK_TEST_COMMON_H
#define CHECK_TEST_COMMON_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RV_LI_A0(imm) (0x00000513u | ((uint32_t)(imm) << 20))   /* addi a0, zero, imm */
#define RV_RET 0x00008067u                                       /* jalr zero, 0(ra) */
#define NR_riscv_flush_icache 259
#define FLUSH_LOCAL 1

#include "../dualmap.h"

static inline void fence_i(void) { __asm__ volatile("fence.i" ::: "memory"); }

/*
 * Linux may move a thread to another hart between its fence.i and the
 * fetch; prctl(PR_RISCV_SET_ICACHE_FLUSH_CTX, PR_RISCV_CTX_SW_FENCEI_ON,
 * scope) (Linux 6.10) makes the kernel fence.i the new hart, for the
 * process (scope 0) or the calling thread (1).  qemu 10 does not know the
 * option and fails it; the checker models Linux, so the result is ignored.
 */
#define PR_RISCV_SET_ICACHE_FLUSH_CTX 71
static inline void fence_i_ctx(int per_thread)
{
    (void)syscall(SYS_prctl, PR_RISCV_SET_ICACHE_FLUSH_CTX, 0, per_thread, 0, 0);
}

static inline void flush_icache(const void *start, const void *end, unsigned long flags)
{
    if (syscall(NR_riscv_flush_icache, start, end, flags) != 0) {
        perror("riscv_flush_icache");
        exit(2);
    }
}

typedef int (*fn_t)(void);

static inline fn_t as_fn(const void *p)
{
    fn_t f;
    memcpy(&f, &p, sizeof(f));
    return f;
}

#endif
