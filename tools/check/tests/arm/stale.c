/*
 * Rewrite code that already ran, through the read-write view, then
 * cacheflush(2) and ISB: correct on hardware, but qemu-user keeps running
 * its old translation (it ignores cacheflush), which the checker notes as
 * the emulator's own stale code (a note: no hardware counterpart).
 *
 * RUN: => note:stale-translation
 */
#include "common.h"

int main(void)
{
    struct dual d = dual_map(4096);
    const uint32_t one[] = { A32_MOV_R0(1), A32_BX_LR };
    emit(d.rw, one, 2);
    cacheflush(d.rx, d.rx + 2);
    int first = as_fn(d.rx)();
    const uint32_t two[] = { A32_MOV_R0(2), A32_BX_LR };
    emit(d.rw, two, 2);
    cacheflush(d.rx, d.rx + 2);
    isb();
    int second = as_fn(d.rx)();
    printf("stale: first call %d, second call %d\n", first, second);
    return first == 1 ? 0 : 1;
}
