/*
 * A store into the running translation block through another mapping of
 * the same memory (RISC-V): a routine run from the read-execute view of a
 * memfd stores, through the read-write view, a new instruction two words
 * ahead of itself and runs on into it.  With no fence.i (or flush system
 * call) between the store and the fetch the hart need not fetch the new
 * instruction (Zifencei: instruction fetches see stores only after a
 * fence.i); qemu runs the old one.  The checker compares the store with
 * the block by backing page, not by virtual address.
 *
 * argv[1]: ahead (the store writes the slot ahead of it), past (it writes
 *          a word of the page outside the block: nothing runs it).
 *
 * RUN: ahead => no-fence-i
 * RUN: past => clean
 */
#include "common.h"

#define SW_A1_A0 0x00b52023u       /* sw a1, 0(a0) */
#define RV_NOP 0x00000013u         /* addi zero, zero, 0 */

int main(int argc, char **argv)
{
    if (argc < 2) {
        return 2;
    }
    struct dual d = dual_map(4096);
    uint32_t code[] = { SW_A1_A0, RV_NOP, RV_LI_A0(1), RV_RET };
    emit(d.rw, code, 4);
    flush_icache(d.rx, d.rx + 4, 0);
    uint32_t *target = strcmp(argv[1], "ahead") == 0 ? d.rw + 2 : d.rw + 64;
    int (*fn)(uint32_t *, uint32_t);
    const void *p = d.rx;
    memcpy(&fn, &p, sizeof(fn));
    int r = fn(target, RV_LI_A0(7));
    /* 1: the old instruction ran; 7: the new one (both allowed). */
    return r == 1 || r == 7 ? 0 : 1;
}
