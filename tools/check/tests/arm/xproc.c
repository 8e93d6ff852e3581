/*
 * Code written by one process and run by another: a forked child writes
 * a function into MAP_SHARED|MAP_ANONYMOUS memory it shares with its
 * parent, with or without cacheflush(2); the parent, told over a pipe (its
 * read(2) returns through an exception: context synchronising), runs it.
 *
 * RUN: flush => clean
 * RUN: none => no-cacheflush
 */
#include "common.h"

#include <sys/wait.h>

int main(int argc, char **argv)
{
    int flush = !(argc > 1 && strcmp(argv[1], "none") == 0);
    alarm(120);
    uint32_t *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int fds[2];
    if (mem == MAP_FAILED || pipe(fds) != 0) {
        return 2;
    }
    pid_t p = fork();
    if (p < 0) {
        return 2;
    }
    if (p == 0) {
        const uint32_t code[] = { A32_MOV_R0(5), A32_BX_LR };
        emit(mem + 16, code, 2);
        if (flush) {
            cacheflush(mem + 16, mem + 18);
        }
        char c = 1;
        _exit(write(fds[1], &c, 1) == 1 ? 0 : 1);
    }
    char c;
    if (read(fds[0], &c, 1) != 1) {
        return 2;
    }
    int r = as_fn(mem + 16)();
    int st;
    if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        return 3;
    }
    return r == 5 ? 0 : 1;
}
