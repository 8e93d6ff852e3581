/*
 * Code written by the kernel on the program's behalf: read(2), readv(2),
 * pread(2) and recvmsg(2) copy into an executable page like any store, so
 * the bytes still need the maintenance before they run (memcr's restore
 * refilled a JIT area with read(2) and ran it unflushed).
 *
 * RUN: read => not-cleaned
 * RUN: readv => not-cleaned
 * RUN: pread => not-cleaned
 * RUN: recvmsg => not-cleaned
 * RUN: read flush => clean
 * RUN: recvmsg flush => clean
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MOV_W0(i) (0x52800000u | ((uint32_t)(i) << 5))
#define RET 0xd65f03c0u

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "read";
    int flush = argc > 2 && strcmp(argv[2], "flush") == 0;
    uint32_t *area = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) {
        return 2;
    }
    /* Run version 1 properly first, so the page holds live code. */
    area[0] = MOV_W0(1);
    area[1] = RET;
    __builtin___clear_cache((char *)area, (char *)(area + 2));
    int first = ((int (*)(void))(void *)area)();
    uint32_t image[2] = { MOV_W0(2), RET };
    int fds[2];
    ssize_t got = -1;
    if (strcmp(how, "recvmsg") == 0) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) || write(fds[1], image, 8) != 8) {
            return 2;
        }
        struct iovec iov = { area, 8 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        got = recvmsg(fds[0], &msg, 0);
    } else if (strcmp(how, "pread") == 0) {
        FILE *f = tmpfile();
        if (!f || fwrite(image, 8, 1, f) != 1 || fflush(f)) {
            return 2;
        }
        got = pread(fileno(f), area, 8, 0);
    } else {
        if (pipe(fds) || write(fds[1], image, 8) != 8) {
            return 2;
        }
        if (strcmp(how, "readv") == 0) {
            struct iovec iov[2] = { { area, 4 }, { area + 1, 4 } };
            got = readv(fds[0], iov, 2);
        } else {
            got = read(fds[0], area, 8);
        }
    }
    if (got != 8) {
        perror(how);
        return 2;
    }
    if (flush) {
        __builtin___clear_cache((char *)area, (char *)(area + 2));
    }
    int second = ((int (*)(void))(void *)area)();
    printf("kernel_fill %s%s: %d %d\n", how, flush ? " flush" : "", first, second);
    return first == 1 && second == 2 ? 0 : 1;
}
