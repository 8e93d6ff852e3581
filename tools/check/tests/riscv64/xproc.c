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

#include <sys/wait.h>

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "reader-flush";
    alarm(120);
    struct dual d = dual_map(4096);
    int fds[2];
    if (pipe(fds) != 0) {
        return 2;
    }
    pid_t p = fork();
    if (p < 0) {
        return 2;
    }
    if (p == 0) {
        const uint32_t code[] = { RV_LI_A0(6), RV_RET };
        emit(d.rw + 16, code, 2);
        if (strcmp(mode, "writer-flush") == 0) {
            flush_icache(d.rx + 16, d.rx + 18, 0);
        }
        char c = 1;
        _exit(write(fds[1], &c, 1) == 1 ? 0 : 1);
    }
    char c;
    if (read(fds[0], &c, 1) != 1) {
        return 2;
    }
    if (strcmp(mode, "reader-flush") == 0) {
        flush_icache(d.rx + 16, d.rx + 18, 0);
    }
    int r = as_fn(d.rx + 16)();
    int st;
    if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        return 3;
    }
    return r == 6 ? 0 : 1;
}
