/*
 * kwrite.h - the part of the kernel-write programs that does not depend on
 * the architecture: put `n` instruction words into the memfd behind a dual
 * mapping by a system call rather than by a store instruction (the kernel
 * writes the pages; every mapping of the memfd sees the bytes).
 *
 * mode: writev, pwritev, sendfile, splice, copy_file_range (file writes
 * into the memfd), msgrcv, vmsplice (the kernel fills the read-write view).
 */
#ifndef CHECK_TEST_KWRITE_H
#define CHECK_TEST_KWRITE_H

#include <fcntl.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/uio.h>

/* A temporary file holding the bytes, for the file-to-file copies. */
static inline int kw_source(const void *p, size_t len)
{
    int fd = memfd_create("cmodx-check-src", 0);
    if (fd < 0 || write(fd, p, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0) {
        perror("source");
        exit(2);
    }
    return fd;
}

/* The memfd behind a dual mapping, kept open for the system calls. */
static inline struct dual kw_map(int *fd)
{
    *fd = memfd_create("cmodx-check-test", 0);
    if (*fd < 0 || ftruncate(*fd, 4096) != 0) {
        perror("memfd");
        exit(2);
    }
    void *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    void *rx = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, *fd, 0);
    if (rw == MAP_FAILED || rx == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    return (struct dual){rw, rx, 4096};
}

/* Writes the code at byte KW_AT of the memfd. */
#define KW_AT 64

static inline void kw_write(const char *mode, int fd, uint32_t *rw, const uint32_t *code,
                            size_t n)
{
    size_t len = n * 4;
    ssize_t got = -1;
    if (strcmp(mode, "writev") == 0) {
        struct iovec io = { (void *)code, len };
        got = lseek(fd, KW_AT, SEEK_SET) == KW_AT ? writev(fd, &io, 1) : -1;
    } else if (strcmp(mode, "pwritev") == 0) {
        struct iovec io = { (void *)code, len };
        got = pwritev(fd, &io, 1, KW_AT);
    } else if (strcmp(mode, "sendfile") == 0) {
        int src = kw_source(code, len);
        got = lseek(fd, KW_AT, SEEK_SET) == KW_AT ? sendfile(fd, src, NULL, len) : -1;
    } else if (strcmp(mode, "splice") == 0) {
        int p[2];
        loff_t off = KW_AT;
        if (pipe(p) != 0 || write(p[1], code, len) != (ssize_t)len) {
            exit(2);
        }
        got = splice(p[0], NULL, fd, &off, len, 0);
    } else if (strcmp(mode, "copy_file_range") == 0) {
        int src = kw_source(code, len);
        loff_t in = 0, out = KW_AT;
        got = copy_file_range(src, &in, fd, &out, len, 0);
    } else if (strcmp(mode, "msgrcv") == 0) {
        /* The message lands at rw - sizeof(long): its text on the code. */
        int q = msgget(IPC_PRIVATE, 0600);
        struct { long type; uint32_t text[16]; } m = { 1, { 0 } };
        memcpy(m.text, code, len);
        if (q < 0 || msgsnd(q, &m, len, 0) != 0) {
            perror("msg");
            exit(2);
        }
        got = msgrcv(q, (char *)rw + KW_AT - sizeof(long), len, 0, 0);
        msgctl(q, IPC_RMID, NULL);
    } else if (strcmp(mode, "vmsplice") == 0) {
        int p[2];
        if (pipe(p) != 0 || write(p[1], code, len) != (ssize_t)len) {
            exit(2);
        }
        struct iovec io = { (char *)rw + KW_AT, len };
        got = syscall(SYS_vmsplice, p[0], &io, 1, 0);
    }
    if (got != (ssize_t)len) {
        fprintf(stderr, "%s: wrote %zd of %zu bytes\n", mode, got, len);
        exit(2);
    }
}

#endif
