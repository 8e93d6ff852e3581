/*
 * A JIT's buffer: private memory written while read-write (not yet
 * tracked), flushed with __builtin___clear_cache over its range, and only
 * then made executable (LuaJIT's order).  The stores happened before the
 * flush, so the code is visible; without the flush it is not.
 *
 * RUN: flush => clean
 * RUN: none => no-fence-i
 */
#include "common.h"

int main(int argc, char **argv)
{
    int flush = argc > 1 && strcmp(argv[1], "flush") == 0;
    uint32_t *buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) {
        return 2;
    }
    buf[0] = RV_LI_A0(8);
    buf[1] = RV_RET;
    if (flush) {
        __builtin___clear_cache((char *)buf, (char *)(buf + 2));
    }
    if (mprotect(buf, 4096, PROT_READ | PROT_EXEC)) {
        return 2;
    }
    int r = as_fn(buf)();
    printf("flush_then_protect %s: %d\n", flush ? "flush" : "none", r);
    return r == 8 ? 0 : 1;
}
