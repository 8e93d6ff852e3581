/*
 * A store into the running translation block through another mapping of
 * the same memory (ARMv7): a routine run from the read-execute view of a
 * memfd stores, through the read-write view, a new instruction two words
 * ahead of itself and runs on into it.  With no cache maintenance (the
 * cacheflush system call) and no ISB between the store and the fetch the
 * old or the new instruction may run (ARM ARM A3.5.4, concurrent
 * modification); qemu runs the old one.  The checker compares the store
 * with the block by backing page, not by virtual address.
 *
 * argv[1]: ahead (the store writes the slot ahead of it), past (it writes
 *          a word of the page outside the block: nothing runs it).
 *
 * RUN: ahead => no-cacheflush
 * RUN: past => clean
 */
#include "common.h"

#define STR_R1_R0 0xe5801000u      /* str r1, [r0] */
#define A32_NOP 0xe1a00000u        /* mov r0, r0 */

int main(int argc, char **argv)
{
    if (argc < 2) {
        return 2;
    }
    struct dual d = dual_map(4096);
    uint32_t code[] = { STR_R1_R0, A32_NOP, A32_MOV_R0(1), A32_BX_LR };
    emit(d.rw, code, 4);
    cacheflush(d.rx, d.rx + 4);
    uint32_t *target = strcmp(argv[1], "ahead") == 0 ? d.rw + 2 : d.rw + 64;
    int (*fn)(uint32_t *, uint32_t);
    const void *p = d.rx;
    memcpy(&fn, &p, sizeof(fn));
    int r = fn(target, A32_MOV_R0(7));
    /* 1: the old instruction ran; 7: the new one (both allowed). */
    return r == 1 || r == 7 ? 0 : 1;
}
