/*
 * One hart writes code and runs it itself.
 *
 * RUN: fencei => fence-i-may-migrate
 * RUN: fencei-ctx => clean
 * RUN: fencei-thread-ctx => clean
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
    if (strncmp(mode, "fencei", 6) == 0) {
        /* Without the prctl Linux may migrate the thread after its fence.i. */
        if (strcmp(mode, "fencei-ctx") == 0) {
            fence_i_ctx(0);
        } else if (strcmp(mode, "fencei-thread-ctx") == 0) {
            fence_i_ctx(1);
        }
        fence_i();
    } else if (strcmp(mode, "flush") == 0) {
        flush_icache(d.rx, d.rx + 2, 0);
    } else if (strcmp(mode, "flush-local") == 0) {
        flush_icache(d.rx, d.rx + 2, FLUSH_LOCAL);
    }
    return as_fn(d.rx)() == 42 ? 0 : 1;
}
