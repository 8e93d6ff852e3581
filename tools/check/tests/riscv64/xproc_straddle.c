/*
 * Found by a review of the cross-process checker (fixed with it):
 * a 4-byte instruction at a 2-aligned
 * address straddles two words.  The child writes the first word (c.nop +
 * the low half of "addi a0,zero,6"); the parent, after prctl + fence.i
 * (settles the child's word for it), writes the second word itself (the
 * high half, and the low half of a second straddling "addi a0,a0,1" whose
 * high half and the c.jr ra are the child's) and runs from byte 66 with NO fence.i after its own
 * store.  Mode "own-fence": the parent runs fence.i after its store too.
 * Mode "control": the parent writes all four words itself (same order,
 * the fence.i between): its own model must report.
 * Expect: no-fence-i (default), clean (own-fence), no-fence-i (control).
 *
 * RUN: mixed => no-fence-i
 * RUN: own-fence => clean
 * RUN: control => no-fence-i
 */
#include "common.h"
#include "../xproc.h"

static struct dual d;

static int control;

static void child(void *arg)
{
    (void)arg;
    volatile uint32_t *w = d.rw;
    if (control) {
        return;
    }
    w[16] = 0x05130001u;   /* c.nop ; addi a0,zero,6 (low half) */
    w[18] = 0x80820015u;   /* addi a0,a0,1 (high half) ; c.jr ra */
    w[19] = 0x00010001u;   /* c.nop ; c.nop */
}

int main(int argc, char **argv)
{
    d = dual_map(4096);
    control = argc > 1 && strcmp(argv[1], "control") == 0;
    pid_t p = xp_child_writes(child, NULL);
    if (p < 0) {
        return 2;
    }
    volatile uint32_t *w = d.rw;
    if (control) {   /* the parent writes the child's words itself */
        w[16] = 0x05130001u;
        w[18] = 0x80820015u;
        w[19] = 0x00010001u;
    }
    fence_i_ctx(0);
    fence_i();
    w[17] = 0x05130060u;   /* addi a0,zero,6 (high half) ; addi a0,a0,1 (low half) */
    if (argc > 1 && strcmp(argv[1], "own-fence") == 0) {
        fence_i();
    }
    return xp_status(p, as_fn((const char *)d.rx + 66)(), 7);
}
