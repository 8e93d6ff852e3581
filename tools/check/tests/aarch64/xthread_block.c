/*
 * Another thread stores, through the read-write view of a memfd, a new
 * instruction into the translation block this thread is running from the
 * read-execute view, ahead of where it is (xblock.h).  Nothing the
 * executing thread does lies between that store and its fetch of the slot
 * (no IC IVAU completed for it, no ISB: ARM ARM B2.2.5), so the old or the
 * new instruction may run; qemu runs the old one.  The checker must arm
 * the rechecks of the block another thread is running, by backing page.
 *
 * RUN: => not-cleaned
 */
#include "common.h"

#define XB_SLOT_OLD A64_MOV_W0(1)
#define XB_SLOT_NEW A64_MOV_W0(7)
static size_t xb_code(uint32_t *code);
static void xb_repair(const struct dual *d, size_t off, size_t len) { maintain(d, off, len, S_ALL); }
#include "../xblock.h"

static size_t xb_code(uint32_t *code)
{
    size_t n = 0;
    code[n++] = 0xb9000002u;              /* str w2, [x0]: ready = gen */
    for (unsigned i = 0; i < XB_SLED; i++) {
        code[n++] = 0x11000463u;          /* add w3, w3, #1 */
    }
    code[n++] = 0xb9400024u;              /* ldr w4, [x1]: done */
    xb_slot = n;
    code[n++] = XB_SLOT_OLD;
    code[n++] = 0x0b042000u;              /* add w0, w0, w4, lsl #8 */
    code[n++] = A64_RET;
    return n;
}

int main(void)
{
    return xb_run();
}
