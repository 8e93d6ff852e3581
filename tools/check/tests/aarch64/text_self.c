/*
 * A function of the program's own text, its page made read-write-execute
 * with mprotect, stores a new instruction two words ahead of itself in
 * the same translation block and runs on into it: the first store ever
 * made to that page.  With no maintenance and no context synchronisation
 * between the store and the fetch, the old or the new instruction may run
 * (ARM ARM B2.2.5); qemu runs the old one.  The checker put checks only on
 * blocks of anonymous or shared memory or of pages already written, so
 * the block, translated from unwritten text, had none and the store went
 * unreported.  ("pre": one store to the page before, after which the
 * checker did check the block.)
 *
 * RUN: first => not-cleaned
 * RUN: pre => not-cleaned
 */
#include "common.h"

__asm__(".text\n"
        ".balign 4096\n"
        ".globl text_self_patch\n"
        "text_self_patch:\n"
        "  str w1, [x0]\n"
        "  nop\n"
        "  mov w0, #1\n"
        "  ret\n"
        ".balign 4096\n");
extern char text_self_patch[];

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "first";
    uintptr_t pg = (uintptr_t)text_self_patch & ~(uintptr_t)4095;
    if (mprotect((void *)pg, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
        return 2;
    }
    if (strcmp(mode, "pre") == 0) {
        *(volatile uint32_t *)(pg + 0x800) = 0;
    }
    int (*f)(uint32_t *, uint32_t);
    void *p = text_self_patch;
    memcpy(&f, &p, sizeof(f));
    int r = f((uint32_t *)(void *)text_self_patch + 2, A64_MOV_W0(7));
    printf("text_self %s: %d\n", mode, r);
    return r == 1 || r == 7 ? 0 : 1;
}
