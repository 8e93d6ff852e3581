/*
 * Code written into a memfd with pwrite(2) and then mapped executable: the
 * kernel's copy is a data store, so the maintenance is still owed.
 *
 * RUN: full => clean
 * RUN: none => not-cleaned
 */
#include "common.h"

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "full";
    int fd = memfd_create("cmodx-check-test", 0);
    const uint32_t code[] = { A64_MOV_W0(11), A64_RET };
    if (fd < 0 || ftruncate(fd, 4096) != 0 ||
        pwrite(fd, code, sizeof(code), 64) != (ssize_t)sizeof(code)) {
        return 2;
    }
    const char *rx = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    if (rx == MAP_FAILED) {
        return 2;
    }
    struct dual d = { NULL, (const uint32_t *)rx, 4096 };
    d.rw = (uint32_t *)(uintptr_t)rx;   /* cleaning by the executable view */
    if (strcmp(mode, "full") == 0) {
        maintain(&d, 64, sizeof(code), S_ALL);
    }
    return as_fn(rx + 64)() == 11 ? 0 : 1;
}
