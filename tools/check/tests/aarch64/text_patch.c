/*
 * Live patching of the program's own text: make the page of a function
 * writable, rewrite the function, make it executable again, and run it.
 *
 * RUN: full => clean
 * RUN: none => not-cleaned
 * RUN: noic => not-invalidated
 */
#include "common.h"

/* A function alone on its page, so that the page can change protection. */
__asm__(".text\n"
        ".balign 4096\n"
        ".globl patchme\n"
        "patchme:\n"
        "    mov w0, #1\n"
        "    ret\n"
        ".balign 4096\n");
int patchme(void);

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "full";
    uint32_t *fn = (uint32_t *)(uintptr_t)&patchme;
    if (patchme() != 1 || mprotect(fn, 4096, PROT_READ | PROT_WRITE) != 0) {
        return 2;
    }
    const uint32_t code[] = { A64_MOV_W0(2), A64_RET };
    emit(fn, code, 2);
    if (mprotect(fn, 4096, PROT_READ | PROT_EXEC) != 0) {
        return 2;
    }
    struct dual d = { fn, fn, 4096 };
    if (strcmp(mode, "full") == 0) {
        maintain(&d, 0, sizeof(code), S_ALL);
    } else if (strcmp(mode, "noic") == 0) {
        maintain(&d, 0, sizeof(code), S_ALL & ~S_IC);
    }
    return patchme() == 2 ? 0 : 1;
}
