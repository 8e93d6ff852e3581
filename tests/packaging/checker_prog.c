/*
 * checker_prog.c - a small program for tests/suites/installed-checker.sh:
 * it writes a function that returns 42 into a fresh page, makes the page
 * read-execute (never writable and executable at once) and calls it.
 *
 * Built with -DMAINTAIN it makes the bytes visible to instruction fetch
 * the architecture's way first, and cmodx-check must report nothing.
 * Without, it skips that step, and cmodx-check must report the hazard.
 *   AArch64: DC CVAU, DSB ISH, IC IVAU, DSB ISH, ISB (libgcc's
 *            __builtin___clear_cache sequence).
 *   ARMv7:   the cacheflush system call (its return is an exception
 *            return, the context synchronisation).
 *   RISC-V:  riscv_flush_icache with flags 0 (all harts, the caller
 *            included), called directly: glibc would go through the vDSO,
 *            which under qemu-user makes no system call.
 * mprotect() alone is a system call but no cache maintenance.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static const uint32_t code[] = {
#if defined(__aarch64__)
    0x52800540, /* mov w0, #42 */
    0xd65f03c0, /* ret */
#elif defined(__arm__)
    0xe3a0002a, /* mov r0, #42 (A32) */
    0xe12fff1e, /* bx lr */
#elif defined(__riscv) && __riscv_xlen == 64
    0x02a00513, /* li a0, 42 */
    0x00008067, /* ret */
#else
#error "aarch64, arm or riscv64 only"
#endif
};

int main(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    memcpy(p, code, sizeof code);
    if (mprotect(p, (size_t)page, PROT_READ | PROT_EXEC) != 0) {
        perror("mprotect");
        return 2;
    }
#ifdef MAINTAIN
#if defined(__aarch64__)
    __builtin___clear_cache(p, p + sizeof code);
#elif defined(__arm__)
    if (syscall(0x0f0002, p, p + sizeof code, 0) != 0) { /* __ARM_NR_cacheflush */
        perror("cacheflush");
        return 2;
    }
#else
    if (syscall(259, p, p + sizeof code, 0UL) != 0) { /* riscv_flush_icache */
        perror("riscv_flush_icache");
        return 2;
    }
#endif
#endif
    int (*fn)(void);
    memcpy(&fn, &p, sizeof fn); /* object pointer -> function pointer */
    int v = fn();
    printf("returned %d\n", v);
    return v == 42 ? 0 : 1;
}
