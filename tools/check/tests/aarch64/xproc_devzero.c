/*
 * Found by a review of the cross-process checker (fixed with it):
 * two separate MAP_SHARED mappings of /dev/zero (each its own
 * shmem object in Linux).  The parent puts code in C (full maintenance,
 * before the fork); the child writes a data word into D at the same
 * offset; the parent runs C.  Nothing was written to C after its
 * maintenance: expect clean.  Mode "nofork": the parent itself writes D,
 * then runs C (same process).
 *
 * RUN: fork => clean
 * RUN: nofork => clean
 */
#include "common.h"
#include "../xproc.h"
#include <fcntl.h>

static uint32_t *C, *D;

static void child(void *arg)
{
    (void)arg;
    D[16] = 0x12345678;   /* data */
}

int main(int argc, char **argv)
{
    int fd = open("/dev/zero", O_RDWR);
    C = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED, fd, 0);
    D = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fd < 0 || C == MAP_FAILED || D == MAP_FAILED) {
        return 2;
    }
    const uint32_t code[] = { A64_MOV_W0(7), A64_RET };
    emit(C + 16, code, 2);
    sync_words(C + 16, 2);
    if (argc > 1 && strcmp(argv[1], "nofork") == 0) {
        D[16] = 0x12345678;
        isb();
        return as_fn(C + 16)() == 7 ? 0 : 1;
    }
    pid_t p = xp_child_writes(child, NULL);
    if (p < 0) {
        return 2;
    }
    return xp_status(p, as_fn(C + 16)(), 7);
}
