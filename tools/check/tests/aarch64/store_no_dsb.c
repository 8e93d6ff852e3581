/*
 * Code stored through the read-write view of a memfd and run from the
 * read-execute view after only an ISB: no DSB between the store and the
 * context synchronisation.  With CTR_EL0.IDC=1 and DIC=1 neither a clean
 * nor an invalidate is required (ARM ARM D19.2.34), but the store must
 * still complete before the ISB (the DSB); the report's advice must not
 * ask for maintenance the CPU does not need (checked by the checker-cases
 * suite).  Without IDC and DIC the first missing step is the clean; with
 * IDC alone, the invalidate.
 *
 * RUN: --idc --dic => clean-not-completed
 * RUN: --idc => not-invalidated
 * RUN: => not-cleaned
 */
#include "common.h"

int main(void)
{
    struct dual d = dual_map(4096);
    uint32_t code[] = { A64_MOV_W0(1), A64_RET };
    emit(d.rw, code, 2);
    isb();
    return as_fn(d.rx)() == 1 ? 0 : 1;
}
