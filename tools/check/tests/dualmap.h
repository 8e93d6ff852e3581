/*
 * dualmap.h - the part of the validation programs that does not depend on
 * the architecture: one memfd mapped twice, a read-write view to store
 * instructions through and a read-execute view to run them, as JITs (and
 * libcmodx) do; and a store loop the compiler cannot turn into a memcpy
 * call, so that every store is the program's own.
 */
#ifndef CHECK_TEST_DUALMAP_H
#define CHECK_TEST_DUALMAP_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

struct dual {
    uint32_t *rw;       /* write here */
    const uint32_t *rx; /* run here */
    size_t len;
};

static inline struct dual dual_map(size_t len)
{
    int fd = memfd_create("cmodx-check-test", 0);
    if (fd < 0 || ftruncate(fd, (off_t)len) != 0) {
        perror("memfd");
        exit(2);
    }
    void *rw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    void *rx = mmap(NULL, len, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    if (rw == MAP_FAILED || rx == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    close(fd);
    return (struct dual){rw, rx, len};
}

static inline void emit(uint32_t *dst, const uint32_t *code, size_t n)
{
    volatile uint32_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = code[i];
}

#endif
