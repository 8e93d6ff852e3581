/*
 * Zcb's C.SB (a 16-bit byte store) into a later instruction of its own
 * translation block, in a one-thread process.  The one-thread mode's
 * decoder knew C.FSD, C.SW and C.SD (and their SP forms) only, so the
 * store went unreported; the store's own callback now checks the later
 * instructions it reached that have no recheck.  The control is C.SW.
 *
 * RUN: csb => no-fence-i
 * RUN: csw => no-fence-i
 */
#include "common.h"

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "csb";
    uint16_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if ((void *)page == MAP_FAILED) {
        return 2;
    }
    uint16_t st = strcmp(mode, "csb") == 0 ? 0x890c    /* c.sb a1, 0(a0) */
                                           : 0xc10c;   /* c.sw a1, 0(a0) */
    const uint16_t code[8] = { 0x4581 /* c.li a1, 0 */, st, 0x0001, 0x0001 /* c.nop */,
                               0x0513, 0x0010 /* li a0, 1 */, 0x8082 /* ret */, 0x0001 };
    volatile uint16_t *d = page;
    for (unsigned i = 0; i < 8; i++) {
        d[i] = code[i];
    }
    flush_icache(page, page + 8, 0);
    int (*f)(void *);
    void *p = page;
    memcpy(&f, &p, sizeof(f));
    int r = f(page + 4);   /* qemu runs the translated li: 1 */
    printf("same_block_zcb %s: %d\n", mode, r);
    return 0;
}
