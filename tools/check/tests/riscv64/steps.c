/*
 * One hart writes code and runs it itself.
 *
 * RUN: fencei => clean
 * RUN: flush => clean
 * RUN: flush-local => clean
 * RUN: none => no-fence-i
 */
#include "common.h"

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "fencei";
    struct dual d = dual_map(4096);
    const uint32_t code[] = { RV_LI_A0(42), RV_RET };
    emit(d.rw, code, 2);
    if (strcmp(mode, "fencei") == 0) {
        fence_i();
    } else if (strcmp(mode, "flush") == 0) {
        flush_icache(d.rx, d.rx + 2, 0);
    } else if (strcmp(mode, "flush-local") == 0) {
        flush_icache(d.rx, d.rx + 2, FLUSH_LOCAL);
    }
    return as_fn(d.rx)() == 42 ? 0 : 1;
}
