/*
 * A writer that honours CTR_EL0.IDC and CTR_EL0.DIC, and variants that
 * skip one of the steps those bits still require.
 *
 * RUN: aware => clean
 * RUN: --idc aware => clean
 * RUN: --dic aware => clean
 * RUN: --idc --dic aware => clean
 * RUN: --idc nodsb1 => clean-not-completed
 * RUN: --dic noisb => no-context-sync
 * RUN: --idc --dic nodsb1 => clean-not-completed
 * RUN: naive => not-cleaned
 * RUN: --idc --dic naive => clean
 */
#include "common.h"

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "aware";
    uint64_t ctr = ctr_el0();
    int idc = (ctr >> 28) & 1, dic = (ctr >> 29) & 1;
    int naive = strcmp(mode, "naive") == 0;   /* as if both bits were set */
    struct dual d = dual_map(4096);
    const uint32_t code[] = { A64_MOV_W0(5), A64_RET };
    emit(d.rw, code, 2);
    unsigned steps = S_ALL;
    if (idc || naive) {
        steps &= ~S_DC;
    }
    if (dic || naive) {
        steps &= ~(S_IC | S_DSB2);   /* DSB1 then completes the clean */
    }
    if (strcmp(mode, "nodsb1") == 0) {
        steps &= ~S_DSB1;
    }
    if (strcmp(mode, "noisb") == 0) {
        steps &= ~S_ISB;
    }
    maintain(&d, 0, sizeof(code), steps);
    return as_fn(d.rx)() == 5 ? 0 : 1;
}
