/*
 * Root cause D of the first generation: a routine stores a new instruction
 * a few words ahead of itself, in the translation block qemu is running,
 * and runs on into it.  herd7 allows the old instruction (SM.B+dsb.ish,
 * SM.B+dc.cvau-dsb.ish: no invalidate, no context synchronisation), and
 * qemu does run the old one (it translated the block before the store).
 * The checker must report it: the checked instructions after a store in
 * their own block are checked again when the store reaches them.
 *
 * argv[1]: the routine's steps between its store and the slot:
 *          none, dsb (DSB), cache (DC; DSB; IC; DSB), full (... ISB).
 *
 * RUN: none => not-cleaned
 * RUN: dsb => not-cleaned
 * RUN: cache => no-context-sync
 * RUN: full => clean
 */
#include "common.h"

#define STR_W1_X0 0xb9000001u      /* str w1, [x0] */
#define DC_CVAU_X0 0xd50b7b20u     /* dc cvau, x0 */
#define IC_IVAU_X0 0xd50b7520u     /* ic ivau, x0 */
#define DSB_ISH 0xd5033b9fu
#define ISB_SY 0xd5033fdfu

int main(int argc, char **argv)
{
    if (argc < 2) {
        return 2;
    }
    uint32_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        return 2;
    }
    uint32_t code[16];
    size_t n = 0;
    code[n++] = STR_W1_X0;
    if (strcmp(argv[1], "none") != 0) {
        if (strcmp(argv[1], "dsb") != 0) {
            code[n++] = DC_CVAU_X0;
        }
        code[n++] = DSB_ISH;
        if (strcmp(argv[1], "dsb") != 0) {
            code[n++] = IC_IVAU_X0;
            code[n++] = DSB_ISH;
        }
        if (strcmp(argv[1], "full") == 0) {
            code[n++] = ISB_SY;
        }
    }
    size_t slot = n;
    code[n++] = A64_MOV_W0(1);   /* the slot: becomes mov w0, #7 */
    code[n++] = A64_RET;
    emit(page, code, n);
    for (size_t i = 0; i < n; i += 8) {
        dc_cvau(page + i);
    }
    dsb_ish();
    for (size_t i = 0; i < n; i += 8) {
        ic_ivau(page + i);
    }
    dsb_ish();
    isb();
    int (*fn)(uint32_t *, uint32_t);
    void *p = page;
    memcpy(&fn, &p, sizeof(fn));
    int r = fn(page + slot, A64_MOV_W0(7));
    /* 1: qemu ran the old instruction; 7: the new one.  Both are allowed
     * on hardware without the full sequence. */
    return r == 1 || r == 7 ? 0 : 1;
}
