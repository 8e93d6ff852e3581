/*
 * Stores qemu makes without memory callbacks: the FEAT_MOPS copy and set
 * sequences (glibc's memcpy and memset on CPUs that have them, as qemu's
 * default "max" CPU does).  The code is copied (or its bytes set) into an
 * executable page by a CPYFP/CPYFM/CPYFE or SETP/SETM/SETE sequence and
 * run with or without maintenance.
 *
 * RUN: cpy => not-cleaned
 * RUN: cpy flush => clean
 * RUN: set => not-cleaned
 * RUN: set flush => clean
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define MOV_W0(i) (0x52800000u | ((uint32_t)(i) << 5))
#define RET 0xd65f03c0u

/* CPYF{P,M,E} [x0]!, [x1]!, x2! ; SET{P,M,E} [x0]!, x2!, x1 */
static void mops_copy(void *dst, const void *src, size_t n)
{
    register void *d __asm__("x0") = dst;
    register const void *s __asm__("x1") = src;
    register size_t len __asm__("x2") = n;
    __asm__ volatile(".inst 0x19010440\n\t.inst 0x19410440\n\t.inst 0x19810440"
                     : "+r"(d), "+r"(s), "+r"(len)::"memory");
}

static void mops_set(void *dst, int byte, size_t n)
{
    register void *d __asm__("x0") = dst;
    register uint64_t v __asm__("x1") = (uint64_t)byte;
    register size_t len __asm__("x2") = n;
    __asm__ volatile(".inst 0x19c10440\n\t.inst 0x19c14440\n\t.inst 0x19c18440"
                     : "+r"(d), "+r"(len) : "r"(v) : "memory");
}

int main(int argc, char **argv)
{
    int set = argc > 1 && strcmp(argv[1], "set") == 0;
    int flush = argc > 2 && strcmp(argv[2], "flush") == 0;
    uint32_t *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) {
        return 2;
    }
    /* Live code first: RET at word 1, "mov w0, #0" at word 0. */
    code[0] = MOV_W0(0);
    code[1] = RET;
    __builtin___clear_cache((char *)code, (char *)(code + 2));
    int before = ((int (*)(void))(void *)code)();
    int want;
    if (set) {
        /* 0x2a2a2a2a = orn w10, w17, w10, lsl #10 (harmless); then RET,
         * which returns whatever w0 held: only the reports matter. */
        mops_set(code, 0x2a, 4);
        want = -1;
    } else {
        uint32_t image[2] = { MOV_W0(4), RET };
        mops_copy(code, image, sizeof(image));
        want = 4;
    }
    if (flush) {
        __builtin___clear_cache((char *)code, (char *)(code + 2));
    }
    int r = ((int (*)(void))(void *)code)();
    printf("mops %s%s: %d %d\n", set ? "set" : "cpy", flush ? " flush" : "", before, r);
    return want < 0 || r == want ? 0 : 1;
}
