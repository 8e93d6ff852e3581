/*
 * Another thread stores, through the read-write view of a memfd, a new
 * instruction into the translation block this thread is running from the
 * read-execute view, ahead of where it is (xblock.h).  No cacheflush and
 * no ISB lie between that store and this thread's fetch of the slot (ARM
 * ARM A3.5.4, concurrent modification and execution), so the old or the
 * new instruction may run; qemu runs the old one.  The checker must arm
 * the rechecks of the block another thread is running, by backing page.
 * The routine uses only caller-saved registers (r0-r3, r12: AAPCS).
 *
 * RUN: => no-cacheflush
 */
#include "common.h"

#define XB_SLOT_OLD A32_MOV_R0(1)
#define XB_SLOT_NEW A32_MOV_R0(7)
static size_t xb_code(uint32_t *code);
static void xb_repair(const struct dual *d, size_t off, size_t len)
{
    cacheflush((const char *)d->rx + off, (const char *)d->rx + off + len);
    isb();
}
#include "../xblock.h"

static size_t xb_code(uint32_t *code)
{
    size_t n = 0;
    code[n++] = 0xe5802000u;              /* str r2, [r0]: ready = gen */
    for (unsigned i = 0; i < XB_SLED; i++) {
        code[n++] = 0xe2833001u;          /* add r3, r3, #1 */
    }
    code[n++] = 0xe591c000u;              /* ldr r12, [r1]: done */
    xb_slot = n;
    code[n++] = XB_SLOT_OLD;
    code[n++] = 0xe080040cu;              /* add r0, r0, r12, lsl #8 */
    code[n++] = A32_BX_LR;
    return n;
}

int main(void)
{
    return xb_run();
}
