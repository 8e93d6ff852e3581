/*
 * Cache maintenance on an address the program cannot read faults on
 * hardware (DC CVAU and IC IVAU are permission-checked as reads), a crash
 * qemu does not reproduce (LuaJIT's exit-stub sync started at NULL).  The
 * code itself is maintained correctly in every variant, so the fault is
 * the only report.  dc-after-unmap cleans a line of the page while it is
 * mapped, then again after munmap: the checker caches "readable" per page
 * until the next system call, and must not answer the second from it.
 *
 * RUN: dc-unmapped => maintenance-fault
 * RUN: ic-unmapped => maintenance-fault
 * RUN: dc-prot-none => maintenance-fault
 * RUN: dc-after-unmap => maintenance-fault
 * RUN: ok => clean
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define MOV_W0(i) (0x52800000u | ((uint32_t)(i) << 5))
#define RET 0xd65f03c0u

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "ok";
    char *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE | PROT_EXEC,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (two == MAP_FAILED) {
        return 2;
    }
    if (strcmp(how, "dc-prot-none") == 0) {
        mprotect(two, 4096, PROT_NONE);
    } else if (strcmp(how, "dc-after-unmap") == 0) {
        /* Nothing between the two cleans but the munmap. */
        __asm__ volatile("dc cvau, %0\n\tdsb ish" ::"r"(two + 64) : "memory");
        munmap(two, 4096);
        __asm__ volatile("dc cvau, %0\n\tdsb ish" ::"r"(two + 64) : "memory");
    } else {
        munmap(two, 4096);
    }
    uint32_t *code = (uint32_t *)(two + 4096);
    code[0] = MOV_W0(7);
    code[1] = RET;
    __builtin___clear_cache((char *)code, (char *)(code + 2));
    if (strcmp(how, "dc-unmapped") == 0 || strcmp(how, "dc-prot-none") == 0) {
        __asm__ volatile("dc cvau, %0\n\tdsb ish" ::"r"(two + 64) : "memory");
    } else if (strcmp(how, "ic-unmapped") == 0) {
        __asm__ volatile("ic ivau, %0\n\tdsb ish\n\tisb" ::"r"(two + 64) : "memory");
    }
    int r = ((int (*)(void))(void *)code)();
    printf("maint_fault %s: %d\n", how, r);
    return r == 7 ? 0 : 1;
}
