/*
 * Code written by one process and run by another through a memfd shared
 * across fork: the child writes a function through a read-write view; the
 * parent, told over a pipe, runs it through a read-execute view.  A
 * fence.i or a flush orders the fetches of the harts of the calling
 * process only, so the parent needs its own ("reader-flush":
 * riscv_flush_icache with flags 0); the writer's flush ("writer-flush")
 * does not reach it, nor does the read(2) (no exception return orders
 * instruction fetch on RISC-V).
 *
 * RUN: reader-flush => clean
 * RUN: writer-flush => no-fence-i
 * RUN: none => no-fence-i
 */
#include "common.h"
#include "../xproc.h"

static const char *mode;

static void child(void *arg)
{
    const struct dual *d = arg;
    const uint32_t code[] = { RV_LI_A0(6), RV_RET };
    emit(d->rw + 16, code, 2);
    if (strcmp(mode, "writer-flush") == 0) {
        flush_icache(d->rx + 16, d->rx + 18, 0);
    }
}

int main(int argc, char **argv)
{
    mode = argc > 1 ? argv[1] : "reader-flush";
    struct dual d = dual_map(4096);
    pid_t p = xp_child_writes(child, &d);
    if (p < 0) {
        return 2;
    }
    if (strcmp(mode, "reader-flush") == 0) {
        flush_icache(d.rx + 16, d.rx + 18, 0);
    }
    return xp_status(p, as_fn(d.rx + 16)(), 6);
}
