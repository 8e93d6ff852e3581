/*
 * Private anonymous memory: written read-write, then made executable with
 * mprotect (W^X), or mapped read-write-execute.
 *
 * RUN: mprotect => clean
 * RUN: mprotect-none => not-cleaned
 * RUN: rwx => clean
 * RUN: rwx-noic => not-invalidated
 */
#include "common.h"

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "mprotect";
    int rwx = strncmp(mode, "rwx", 3) == 0;
    int prot = PROT_READ | PROT_WRITE | (rwx ? PROT_EXEC : 0);
    uint32_t *p = mmap(NULL, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return 2;
    }
    const uint32_t code[] = { A64_MOV_W0(9), A64_RET };
    emit(p, code, 2);
    if (!rwx && mprotect(p, 4096, PROT_READ | PROT_EXEC) != 0) {
        return 2;
    }
    struct dual d = { p, p, 4096 };
    if (strcmp(mode, "mprotect-none") != 0) {
        maintain(&d, 0, sizeof(code), strcmp(mode, "rwx-noic") == 0 ? S_ALL & ~S_IC : S_ALL);
    }
    return as_fn(p)() == 9 ? 0 : 1;
}
