/*
 * A store into the running translation block through another mapping of
 * the same memory: a routine run from the read-execute view of a memfd
 * stores, through the read-write view, a new instruction two words ahead
 * of itself and runs on into it.  No invalidate and no context
 * synchronisation lie between the store and the fetch (ARM ARM B2.2.5),
 * so the old or the new instruction may run; qemu runs the old one.  The
 * checker compares the store with the block by backing page, not by
 * virtual address.
 *
 * argv[1]: ahead (the store writes the slot ahead of it), past (it writes
 *          a word of the page outside the block: nothing runs it).
 *
 * RUN: ahead => not-cleaned
 * RUN: past => clean
 */
#include "common.h"

#define STR_W1_X0 0xb9000001u      /* str w1, [x0] */

int main(int argc, char **argv)
{
    if (argc < 2) {
        return 2;
    }
    struct dual d = dual_map(4096);
    uint32_t code[] = { STR_W1_X0, A64_NOP, A64_MOV_W0(1), A64_RET };
    emit(d.rw, code, 4);
    maintain(&d, 0, sizeof(code), S_ALL);
    uint32_t *target = strcmp(argv[1], "ahead") == 0 ? d.rw + 2 : d.rw + 64;
    int (*fn)(uint32_t *, uint32_t);
    const void *p = d.rx;
    memcpy(&fn, &p, sizeof(fn));
    int r = fn(target, A64_MOV_W0(7));
    /* 1: the old instruction ran; 7: the new one (both allowed). */
    return r == 1 || r == 7 ? 0 : 1;
}
