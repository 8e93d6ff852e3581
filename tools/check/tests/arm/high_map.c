/*
 * A 32-bit guest's addresses at and above 0x80000000 (LuaJIT's allocator
 * asks for such addresses): system call arguments and results are 32-bit
 * values, never sign-extended.  Also cacheflush(2) as Linux validates it:
 * flags other than 0, or end < start, are EINVAL and flush nothing.
 *
 * RUN: flush => clean
 * RUN: none => no-cacheflush
 * RUN: flags1 => no-cacheflush
 * RUN: reversed => no-cacheflush
 */
#include "common.h"

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "flush";
    uint32_t *code = MAP_FAILED;
    /* The first free high address qemu gives: ask for a few. */
    for (uintptr_t hint = 0x90000000u; hint < 0xb0000000u && code == MAP_FAILED; hint += 0x1000000u) {
        code = mmap((void *)hint, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    }
    if (code == MAP_FAILED || (uintptr_t)code < 0x80000000u) {
        perror("mmap high");
        return 2;
    }
    code[0] = A32_MOV_R0(11);
    code[1] = A32_BX_LR;
    if (strcmp(mode, "flush") == 0) {
        cacheflush(code, code + 2);
    } else if (strcmp(mode, "flags1") == 0) {
        (void)syscall(0x0f0002, code, code + 2, 1);   /* EINVAL on Linux */
    } else if (strcmp(mode, "reversed") == 0) {
        (void)syscall(0x0f0002, code + 2, code, 0);   /* EINVAL on Linux */
    }
    int r = ((int (*)(void))(void *)code)();
    printf("high_map %s at %p: %d\n", mode, (void *)code, r);
    munmap(code, 4096);
    return r == 11 ? 0 : 1;
}
