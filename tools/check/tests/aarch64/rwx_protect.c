/*
 * Code stored while the page is only read-write, then made executable with
 * mprotect: PROT_READ|PROT_EXEC and PROT_READ|PROT_WRITE|PROT_EXEC are the
 * same hazard (tcc -run makes its code RWX).
 *
 * RUN: rx => not-cleaned
 * RUN: rwx => not-cleaned
 * RUN: rwx flush => clean
 * RUN: rx flush => clean
 * RUN: rx bss => not-cleaned
 * RUN: rx bss-flush => clean
 *
 * "bss": the page is the program's own .bss, which qemu maps itself (no
 * mmap the checker sees): it started as zeros, so what is in it was
 * written.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MOV_W0(i) (0x52800000u | ((uint32_t)(i) << 5))
#define RET 0xd65f03c0u

static uint32_t bss[2 * 4096 / 4];

int main(int argc, char **argv)
{
    int rwx = argc > 1 && strcmp(argv[1], "rwx") == 0;
    int flush = argc > 2 && strstr(argv[2], "flush") != NULL;
    int in_bss = argc > 2 && strncmp(argv[2], "bss", 3) == 0;
    uint32_t *code = in_bss ? (uint32_t *)(((uintptr_t)bss + 4095) & ~(uintptr_t)4095)
                            : aligned_alloc(4096, 8192);   /* heap memory, as tcc's */
    if (!code) {
        return 2;
    }
    code[0] = MOV_W0(9);
    code[1] = RET;
    if (mprotect(code, 4096, PROT_READ | PROT_EXEC | (rwx ? PROT_WRITE : 0))) {
        return 2;
    }
    if (flush) {
        __builtin___clear_cache((char *)code, (char *)(code + 2));
    }
    int r = ((int (*)(void))(void *)code)();
    printf("rwx_protect %s %s: %d\n", rwx ? "rwx" : "rx", argc > 2 ? argv[2] : "", r);
    return r == 9 ? 0 : 1;
}
