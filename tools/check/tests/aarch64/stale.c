/*
 * Rewrite code that already ran, through the read-write view, with the
 * sequence CTR_EL0.DIC=1 allows (no IC IVAU).  Correct on such hardware,
 * but qemu-user relies on IC IVAU to drop its translation and runs the old
 * code: the checker says the emulator is misleading here.  Without --dic
 * the missing invalidate is the hazard.
 *
 * RUN: --dic => note:stale-translation
 * RUN: => not-invalidated
 */
#include "common.h"

int main(void)
{
    struct dual d = dual_map(4096);
    const uint32_t one[] = { A64_MOV_W0(1), A64_RET };
    emit(d.rw, one, 2);
    maintain(&d, 0, sizeof(one), S_ALL);
    int first = as_fn(d.rx)();
    const uint32_t two[] = { A64_MOV_W0(2), A64_RET };
    emit(d.rw, two, 2);
    maintain(&d, 0, sizeof(two), S_DC | S_DSB1 | S_ISB);
    int second = as_fn(d.rx)();
    printf("stale: first call %d, second call %d\n", first, second);
    return first == 1 ? 0 : 1;
}
