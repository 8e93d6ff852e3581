/*
 * Another thread stores, through the read-write view of a memfd, a new
 * instruction into the translation block this hart is running from the
 * read-execute view, ahead of where it is (xblock.h).  No fence.i (nor the
 * flush system call) lies between that store and this hart's fetch of the
 * slot (Zifencei), so the old or the new instruction may run; qemu runs the
 * old one.  The checker must arm the rechecks of the block another thread
 * is running, by backing page.
 *
 * RUN: => no-fence-i
 */
#include "common.h"

#define XB_SLOT_OLD RV_LI_A0(1)
#define XB_SLOT_NEW RV_LI_A0(7)
static size_t xb_code(uint32_t *code);
static void xb_repair(const struct dual *d, size_t off, size_t len)
{
    flush_icache((const char *)d->rx + off, (const char *)d->rx + off + len, 0);
}
#include "../xblock.h"

static size_t xb_code(uint32_t *code)
{
    size_t n = 0;
    code[n++] = 0x00c52023u;              /* sw a2, 0(a0): ready = gen */
    for (unsigned i = 0; i < XB_SLED; i++) {
        code[n++] = 0x00168693u;          /* addi a3, a3, 1 */
    }
    code[n++] = 0x0005a703u;              /* lw a4, 0(a1): done */
    xb_slot = n;
    code[n++] = XB_SLOT_OLD;
    code[n++] = 0x00871713u;              /* slli a4, a4, 8 */
    code[n++] = 0x00e50533u;              /* add a0, a0, a4 */
    code[n++] = RV_RET;
    return n;
}

int main(void)
{
    return xb_run();
}
