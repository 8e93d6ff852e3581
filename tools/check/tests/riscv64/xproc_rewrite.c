/*
 * Found by a review of the cross-process checker (fixed with it):
 * the parent writes a function (li a0,5; ret) with a
 * flush, runs it (its block is then settled for it), forks; the child
 * rewrites it (li a0,6) with no flush; the parent, told over a pipe (a
 * system call: CHECKER.md says other processes' changes are noticed at a
 * system call return), then does [mode] and runs the function again:
 *   none:         expect no-fence-i
 *   flush:        riscv_flush_icache(flags 0): the hardware would run the new
 *                 code; qemu keeps its translation: expect stale-translation
 *   fencei:       plain fence.i: expect fence-i-may-migrate
 *   fencei-ctx:   prctl + fence.i: expect stale-translation
 * It prints which code ran (qemu runs its stale translation after "flush"
 * and "fencei-ctx", where the hardware would run the new code).
 *
 * RUN: none => no-fence-i
 * RUN: flush => note:stale-translation
 * RUN: fencei => fence-i-may-migrate
 * RUN: fencei-ctx => note:stale-translation
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
    const char *mode = argc > 1 ? argv[1] : "none";
    d = dual_map(4096);
    const uint32_t code[] = { RV_LI_A0(5), RV_RET };
    emit(d.rw + 16, code, 2);
    flush_icache(d.rx + 16, d.rx + 18, 0);
    if (as_fn(d.rx + 16)() != 5) {
        return 2;
    }
    pid_t p = xp_child_writes(child, NULL);
    if (p < 0) {
        return 2;
    }
    if (strcmp(mode, "flush") == 0) {
        flush_icache(d.rx + 16, d.rx + 18, 0);
    } else if (strcmp(mode, "fencei") == 0) {
        fence_i();
    } else if (strcmp(mode, "fencei-ctx") == 0) {
        fence_i_ctx(0);
        fence_i();
    }
    int got = as_fn(d.rx + 16)();
    printf("xproc_rewrite %s: %d\n", mode, got);
    /* 5 (qemu's old translation) or 6: the checker's verdict is the test. */
    return xp_status(p, got == 5 ? 6 : got, 6);
}
