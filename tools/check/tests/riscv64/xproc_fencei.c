/*
 * Found by a review of the cross-process checker (fixed with it):
 * the child writes code through a memfd's RW view; the
 * parent runs it through the RX view after:
 *   reader-fencei: a plain fence.i (no prctl). Within a process this is
 *                  fence-i-may-migrate.
 *   reader-fencei-ctx: prctl(PR_RISCV_SET_ICACHE_FLUSH_CTX) then fence.i: clean.
 *   early-fencei: the parent wrote the word itself before the fork, ran a
 *                  plain fence.i, then the child rewrote it: the fence.i came
 *                  before the newest store: expect no-fence-i.
 *
 * RUN: reader-fencei => fence-i-may-migrate
 * RUN: reader-fencei-ctx => clean
 * RUN: early-fencei => no-fence-i
 */
#include "common.h"
#include "../xproc.h"

static struct dual d;

static void child(void *arg)
{
    (void)arg;
    const uint32_t code[] = { RV_LI_A0(6), RV_RET };
    emit(d.rw + 16, code, 2);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "reader-fencei";
    d = dual_map(4096);
    if (strcmp(mode, "early-fencei") == 0) {
        const uint32_t code0[] = { RV_LI_A0(5), RV_RET };
        emit(d.rw + 16, code0, 2);
        fence_i();
    }
    pid_t p = xp_child_writes(child, NULL);
    if (p < 0) {
        return 2;
    }
    if (strcmp(mode, "reader-fencei-ctx") == 0) {
        fence_i_ctx(0);
    }
    if (strncmp(mode, "reader-fencei", 13) == 0) {
        fence_i();
    }
    return xp_status(p, as_fn(d.rx + 16)(), 6);
}
