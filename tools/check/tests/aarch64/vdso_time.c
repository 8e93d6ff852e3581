/*
 * A system call's exception return is a context synchronisation event on
 * AArch64; a call into the vDSO (clock_gettime, gettimeofday) is not: it
 * runs in user space on Linux, although qemu's vDSO makes a real system
 * call.  After DC, DSB, IC, DSB without the ISB, only the raw system call
 * makes the new code safe to run.
 *
 * RUN: vdso => no-context-sync
 * RUN: gettimeofday => no-context-sync
 * RUN: syscall => clean
 * RUN: isb => clean
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MOV_W0(i) (0x52800000u | ((uint32_t)(i) << 5))
#define RET 0xd65f03c0u

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "isb";
    uint32_t *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) {
        return 2;
    }
    code[0] = MOV_W0(3);
    code[1] = RET;
    __asm__ volatile("dc cvau, %0\n\tdsb ish\n\tic ivau, %0\n\tdsb ish" ::"r"(code) : "memory");
    struct timespec ts;
    struct timeval tv;
    if (strcmp(how, "vdso") == 0) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
    } else if (strcmp(how, "gettimeofday") == 0) {
        gettimeofday(&tv, NULL);
    } else if (strcmp(how, "syscall") == 0) {
        syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    } else {
        __asm__ volatile("isb" ::: "memory");
    }
    int r = ((int (*)(void))(void *)code)();
    printf("vdso_time %s: %d\n", how, r);
    return r == 3 ? 0 : 1;
}
