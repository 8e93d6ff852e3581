/*
 * Two processes share a memfd created before the fork; each maps it
 * after the fork.  The writer (the child) maps it read-write and
 * read-execute, stores a function through the read-write view and makes
 * it visible (clean by the read-write view, invalidate by the
 * read-execute view, both completed); then it sets a flag in shared
 * memory with a store-release.  The reader (the parent) maps the memfd
 * read-execute, spins on the flag with acquire loads (no system call),
 * then, with "isb", executes an ISB before running the function; without
 * it nothing synchronises its instruction fetch with the new code.  The
 * child writes only after the parent said it is ready (a second flag),
 * so that the parent's last system call (whose return synchronises its
 * fetches) comes before the child's stores, not after them by chance.
 *
 * RUN: isb => clean
 * RUN: noisb => no-context-sync
 * RUN: isb-noclean => not-cleaned
 */
#include "common.h"

#include <sys/wait.h>

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "isb";
    alarm(120);
    int fd = memfd_create("cmodx-check-xproc", 0);
    uint32_t *flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (fd < 0 || ftruncate(fd, 4096) != 0 || flag == MAP_FAILED) {
        return 2;
    }
    pid_t p = fork();
    if (p < 0) {
        return 2;
    }
    if (p == 0) {
        uint32_t *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        const uint32_t *rx = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
        if (rw == MAP_FAILED || rx == MAP_FAILED) {
            _exit(2);
        }
        while (!__atomic_load_n(flag + 1, __ATOMIC_ACQUIRE)) {
            /* wait for the parent's last system call to have returned */
        }
        const uint32_t code[] = { A64_MOV_W0(9), A64_RET };
        emit(rw + 32, code, 2);
        struct dual d = { rw, rx, 4096 };
        unsigned steps = S_DSB1 | S_IC | S_DSB2;
        if (strcmp(mode, "isb-noclean") != 0) {
            steps |= S_DC;
        }
        maintain(&d, 128, sizeof(code), steps);
        __atomic_store_n(flag, 1, __ATOMIC_RELEASE);
        _exit(0);
    }
    const char *rx = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    if (rx == MAP_FAILED) {
        return 2;
    }
    __atomic_store_n(flag + 1, 1, __ATOMIC_RELEASE);   /* no system call from here */
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
        /* spin: no system call, no context synchronisation */
    }
    if (strncmp(mode, "isb", 3) == 0) {
        isb();
    }
    int r = as_fn(rx + 128)();
    int st;
    if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        return 3;
    }
    return r == 9 ? 0 : 1;
}
