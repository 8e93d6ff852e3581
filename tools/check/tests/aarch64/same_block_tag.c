/*
 * A store the decoder may not know as one, into a later instruction of its
 * own translation block, in a one-thread process: STZG (memory tagging,
 * "store tag and zero": qemu zeroes the 16 bytes with an ordinary store,
 * which has a memory callback).  In the one-thread mode the plugin once
 * put same-block rechecks only after instructions its decoder said may
 * store; STZG was not among them and the store went unreported.  The
 * store's own callback checks the later instructions of its block that it
 * reached, whatever instruction stored (and the one-thread mode has no
 * rechecks any more).  The control is STR XZR over the same bytes.
 *
 * RUN: stzg => not-cleaned
 * RUN: str => not-cleaned
 */
#include "common.h"

#define STZG_X0_X0 0xd9600800u   /* stzg x0, [x0] */
#define STR_XZR_X0 0xf900001fu   /* str xzr, [x0] */

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "stzg";
    uint32_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        return 2;
    }
    /* One block: the store, three NOPs, then the 16-byte granule it zeroes
     * (mov w0, #1; ret; and two words of padding). */
    uint32_t code[8] = { strcmp(mode, "stzg") == 0 ? STZG_X0_X0 : STR_XZR_X0,
                         A64_NOP, A64_NOP, A64_NOP, A64_MOV_W0(1), A64_RET, 0, 0 };
    emit(page, code, 8);
    sync_words(page, 8);
    int (*f)(void *);
    void *p = page;
    memcpy(&f, &p, sizeof(f));
    int r = f(page + 4);   /* qemu runs the translated mov: 1 */
    printf("same_block_tag %s: %d\n", mode, r);
    return 0;
}
