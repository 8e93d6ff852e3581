/*
 * Write A32 code and flush it with cacheflush(2), over the whole range,
 * a range missing the last instruction, or not at all.
 *
 * RUN: full => clean
 * RUN: short => no-cacheflush
 * RUN: none => no-cacheflush
 */
#include "common.h"

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "full";
    struct dual d = dual_map(4096);
    uint32_t code[12];
    for (int i = 0; i < 11; i++) {
        code[i] = A32_MOV_R0(40 + i);
    }
    code[11] = A32_BX_LR;                 /* returns 50 */
    emit(d.rw, code, 12);
    const char *x = (const char *)d.rx;
    if (strcmp(mode, "full") == 0) {
        cacheflush(x, x + sizeof(code));
    } else if (strcmp(mode, "short") == 0) {
        cacheflush(x, x + sizeof(code) - 4);
    }
    return as_fn(d.rx)() == 50 ? 0 : 1;
}
