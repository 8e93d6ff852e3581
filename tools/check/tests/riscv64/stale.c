/*
 * Rewrite code that already ran, through the read-write view, then
 * fence.i (made migration-safe with the prctl): correct on hardware, but qemu-user keeps running its old
 * translation, which the checker notes as the emulator's own stale code
 * (a note: no hardware counterpart).
 *
 * RUN: => note:stale-translation
 */
#include "common.h"

int main(void)
{
    fence_i_ctx(0);
    struct dual d = dual_map(4096);
    const uint32_t one[] = { RV_LI_A0(1), RV_RET };
    emit(d.rw, one, 2);
    fence_i();
    int first = as_fn(d.rx)();
    const uint32_t two[] = { RV_LI_A0(2), RV_RET };
    emit(d.rw, two, 2);
    fence_i();
    int second = as_fn(d.rx)();
    printf("stale: first call %d, second call %d\n", first, second);
    return first == 1 ? 0 : 1;
}
