/*
 * Code in System V shared memory (shmget, shmat with SHM_EXEC), written by
 * this process ("self-*") or by a forked child ("child-*", told over a
 * pipe), with no maintenance ("*-none") or with DC CVAU; DSB; IC IVAU;
 * DSB ("*-full"; the parent's read(2) return, or the writer's own ISB,
 * synchronises).  The checker followed mmap only: the attachment was no
 * mapping it knew, and code there was never checked (found by a review of
 * the cross-process state).  Attachments are shared memory keyed by the
 * segment, the same in every process.
 *
 * RUN: self-none => not-cleaned
 * RUN: self-full => clean
 * RUN: child-none => not-cleaned
 * RUN: child-full => clean
 */
#include "common.h"
#include "../xproc.h"

#include <sys/ipc.h>
#include <sys/shm.h>

static uint32_t *mem;
static int full;

static void write_code(void *arg)
{
    (void)arg;
    const uint32_t code[] = { A64_MOV_W0(7), A64_RET };
    emit(mem + 16, code, 2);
    if (full) {
        struct dual d = { mem, mem, 4096 };
        maintain(&d, 64, sizeof(code), S_ALL);
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "self-none";
    full = strstr(mode, "full") != NULL;
    int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (id < 0) {
        perror("shmget");
        return 2;
    }
    mem = shmat(id, NULL, SHM_EXEC);
    shmctl(id, IPC_RMID, NULL);   /* removed at the last detach */
    if (mem == (void *)-1) {
        perror("shmat");
        return 2;
    }
    if (strncmp(mode, "self", 4) == 0) {
        write_code(NULL);
        int r = as_fn(mem + 16)();
        shmdt(mem);
        return r == 7 ? 0 : 1;
    }
    pid_t p = xp_child_writes(write_code, NULL);
    return p < 0 ? 2 : xp_status(p, as_fn(mem + 16)(), 7);
}
