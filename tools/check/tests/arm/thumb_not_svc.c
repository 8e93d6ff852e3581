/*
 * Thumb-2 instructions are not system calls.  qemu hands a 32-bit Thumb-2
 * instruction to the plugin as one word, first halfword low; PUSH.W
 * {r4-r11, lr} (e92d 4ff0) and POP.W (e8bd 4ff0) then read as the A32
 * pattern of SVC (bits 27:24 all ones, a condition other than 1111).  A
 * decoder that took them for SVCs saw an ARM private system call whenever
 * r7 held one's number: here r7 holds cacheflush's (0x0f0002) and r0/r1 a
 * range of freshly written code, so a Thumb PUSH.W/POP.W pair "flushed"
 * code the program never flushed.
 *
 * RUN: decoy => no-cacheflush
 * RUN: flush => clean
 */
#include "common.h"

/* PUSH.W and POP.W with r0..r2 and r7 set as for cacheflush(start, end,
 * 0); r7 is saved around them (it may be the frame pointer). */
__attribute__((noinline, target("thumb"))) static void decoy(void *start, void *end)
{
    __asm__ volatile("mov r0, %0\n\t"
                     "mov r1, %1\n\t"
                     "movs r2, #0\n\t"
                     "push {r7}\n\t"
                     "movw r7, #2\n\t"
                     "movt r7, #15\n\t"
                     "push.w {r4-r11, lr}\n\t"
                     "pop.w {r4-r11, lr}\n\t"
                     "pop {r7}\n\t"
                     :
                     : "r"(start), "r"(end)
                     : "r0", "r1", "r2", "memory");
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "decoy";
    uint32_t *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    code[0] = A32_MOV_R0(5);
    code[1] = A32_BX_LR;
    if (strcmp(mode, "flush") == 0) {
        cacheflush(code, code + 2);
    }
    decoy(code, code + 2);
    int r = as_fn(code)();
    printf("thumb_not_svc %s: %d\n", mode, r);
    return r == 5 ? 0 : 1;
}
