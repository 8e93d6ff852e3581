/*
 * Helpers of the cmodx-check validation programs (ARMv7, armhf).
 * User space cannot clean or invalidate caches on ARMv7: the cacheflush
 * system call does it for a range.
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

#define A32_MOV_R0(imm) (0xe3a00000u | (uint32_t)(imm))   /* mov r0, #imm */
#define A32_BX_LR 0xe12fff1eu

#include "../dualmap.h"

static inline void cacheflush(const void *start, const void *end)
{
    if (syscall(0x0f0002, start, end, 0) != 0) {   /* __ARM_NR_cacheflush */
        perror("cacheflush");
        exit(2);
    }
}

static inline void isb(void) { __asm__ volatile("isb" ::: "memory"); }

typedef int (*fn_t)(void);

static inline fn_t as_fn(const void *p)
{
    fn_t f;
    memcpy(&f, &p, sizeof(f));   /* even address: called in ARM state */
    return f;
}

#endif
