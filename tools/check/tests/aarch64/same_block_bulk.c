/*
 * A store qemu makes without a memory callback, into a later instruction
 * of its own translation block, in a one-thread process: DC ZVA (zeroes
 * an aligned 64-byte block) and the FEAT_MOPS set sequence SETP/SETM/SETE
 * (glibc's memset on CPUs that have it, qemu's default "max" among them).
 * With no maintenance and no context synchronisation between the store
 * and the fetch, the old or the new instruction may run (ARM ARM B2.2.5);
 * qemu runs the old one.  The checker hands these stores to its model
 * from an instruction callback (stores.c), and used not to check the
 * instructions of the running block they reached: both were reported
 * clean.  The control is STR WZR over the same word.
 *
 * RUN: zva => not-cleaned
 * RUN: set => not-cleaned
 * RUN: str => not-cleaned
 */
#include "common.h"

#define DC_ZVA_X0 0xd50b7420u
#define STR_WZR_X0 0xb900001fu
#define SETP_X0_X2_X1 0x19c10440u   /* setp [x0]!, x2!, x1 */
#define SETM_X0_X2_X1 0x19c14440u
#define SETE_X0_X2_X1 0x19c18440u

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "zva";
    uint32_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        return 2;
    }
    /* One block: the store (three words for the set sequence, padded with
     * NOPs), NOPs up to word 16, then the target: mov w0, #1; ret.  DC ZVA
     * zeroes words 16..31, the others write word 16 only. */
    uint32_t code[18];
    for (int k = 0; k < 16; k++) {
        code[k] = A64_NOP;
    }
    if (strcmp(mode, "zva") == 0) {
        code[0] = DC_ZVA_X0;
    } else if (strcmp(mode, "set") == 0) {
        code[0] = SETP_X0_X2_X1;
        code[1] = SETM_X0_X2_X1;
        code[2] = SETE_X0_X2_X1;
    } else {
        code[0] = STR_WZR_X0;
    }
    code[16] = A64_MOV_W0(1);
    code[17] = A64_RET;
    emit(page, code, 18);
    sync_words(page, 18);
    int (*f)(void *, uint64_t, uint64_t);
    void *p = page;
    memcpy(&f, &p, sizeof(f));
    /* x0: the target, x1: the byte to set (0), x2: its length (4). */
    int r = f(page + 16, 0, 4);
    printf("same_block_bulk %s: %d\n", mode, r);
    return 0;
}
