/*
 * A dual-mapped JIT invalidates through the read-write view only.  Where
 * CTR_EL0.L1Ip says VIPT (the default the program sees under the checker,
 * 0x80038003), instruction-cache lines are indexed by virtual address and
 * IC IVAU by the data view's address need not reach the lines fetched
 * through the code view (libffi's closures hit this).  With L1Ip = PIPT
 * (0b11) any alias does.  The clean is by either view: data caches behave
 * as physically indexed (ARM ARM: PoU maintenance by VA acts on the
 * physical line).
 *
 * RUN: data-view => not-invalidated
 * RUN: code-view => clean
 * RUN: both => clean
 * RUN: --ctr=0x8003c003 data-view => clean
 */
#include "common.h"

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "code-view";
    struct dual d = dual_map(4096);
    const uint32_t code[] = { A64_MOV_W0(6), A64_RET };
    emit(d.rw, code, 2);
    dc_cvau(d.rw);
    dsb_ish();
    if (strcmp(mode, "data-view") == 0 || strcmp(mode, "both") == 0) {
        ic_ivau(d.rw);
    }
    if (strcmp(mode, "code-view") == 0 || strcmp(mode, "both") == 0) {
        ic_ivau(d.rx);
    }
    dsb_ish();
    isb();
    int r = as_fn(d.rx)();
    printf("vipt_alias %s: %d (L1Ip %u)\n", mode, r, (unsigned)((ctr_el0() >> 14) & 3));
    return r == 6 ? 0 : 1;
}
