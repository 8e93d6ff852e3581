/*
 * A maintenance loop that stops one line short: the classic
 * `p < end - line` bound misses the last line of the function.
 *
 * RUN: => not-cleaned
 * RUN: full => clean
 */
#include "common.h"

int main(int argc, char **argv)
{
    int full = argc > 1 && strcmp(argv[1], "full") == 0;
    struct dual d = dual_map(4096);
    uint32_t code[20];
    code[0] = A64_MOV_W0(0);
    for (int i = 1; i < 19; i++) {
        code[i] = A64_ADD_W0_1;
    }
    code[19] = A64_RET;                 /* 80 bytes: lines 0, 32 and 64 */
    emit(d.rw, code, 20);
    size_t line = 32, len = sizeof(code);
    size_t end = full ? len : len - line;   /* the bug: misses [64, 80) */
    for (size_t off = 0; off < end; off += line) {
        dc_cvau((const char *)d.rw + off);
    }
    dsb_ish();
    for (size_t off = 0; off < end; off += line) {
        ic_ivau((const char *)d.rx + off);
    }
    dsb_ish();
    isb();
    return as_fn(d.rx)() == 18 ? 0 : 1;
}
