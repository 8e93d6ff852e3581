/*
 * tests/test_fsize.c - the library under a file size limit (RLIMIT_FSIZE,
 * ulimit -f).  Growing a heap's backing file, the fork snapshot and the
 * moved text are file writes: past the limit the kernel fails them with
 * EFBIG and sends SIGXFSZ, whose default action ends the process.  Each
 * case runs in a child process of its own (the limit is per process) and
 * asserts: the call returns EFBIG with a message naming the limit, the
 * process is alive, no SIGXFSZ is left pending and the signal mask is as
 * it was; a SIGXFSZ the program had pending itself is left pending.
 *
 *   alloc      chunk growth past the limit (cmodx_block_alloc), a block
 *              in the chunk already mapped still allocated
 *   near       cmodx_block_alloc_near, likewise
 *   create     cmodx_heap_create refuses (EFBIG) a heap whose first chunk
 *              the limit cannot hold; a smaller chunk_bytes is accepted
 *   pending    the program's own pending SIGXFSZ (blocked) survives a
 *              failed growth, and the mask keeps it blocked
 *   fork       fork() with a heap larger than the limit: the parent goes
 *              on (its snapshot failed with EFBIG, the signal taken
 *              back), the child says why on stderr and exits 127
 */
#define _GNU_SOURCE
#include <cmodx/cmodx.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define KIB ((size_t)1024)

static void set_fsize(size_t bytes)
{
    struct rlimit r;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &r) == 0);
    r.rlim_cur = bytes;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &r) == 0);
}

static int xfsz_pending(void)
{
    sigset_t p;
    REQUIRE(sigpending(&p) == 0);
    return sigismember(&p, SIGXFSZ) == 1;
}

static int xfsz_blocked(void)
{
    sigset_t m;
    REQUIRE(pthread_sigmask(SIG_BLOCK, NULL, &m) == 0);
    return sigismember(&m, SIGXFSZ) == 1;
}

static int names_limit(void)
{
    return strstr(cmodx_last_error(), "RLIMIT_FSIZE") != NULL;
}

/* A heap of 64 KiB chunks with its first chunk mapped, then a limit of
 * 100 KiB: the first chunk (64 KiB of file) still serves; a second one
 * would take the file to 128 KiB. */
static cmodx_heap *heap_under_limit(void)
{
    struct cmodx_heap_config c = {.chunk_bytes = 64 * KIB};
    cmodx_heap *h = NULL;
    REQUIRE(cmodx_heap_create(&c, &h) == 0);
    cmodx_block b;
    REQUIRE(cmodx_block_alloc(h, 64, &b) == 0);
    set_fsize(100 * KIB);
    return h;
}

static void case_alloc(void)
{
    cmodx_heap *h = heap_under_limit();
    cmodx_block b;
    CHECK_EQ(cmodx_block_alloc(h, 64 * KIB, &b), EFBIG);
    CHECK(names_limit());
    CHECK(!xfsz_pending());
    CHECK(!xfsz_blocked());
    /* Again: the state is unchanged, nothing half-grown. */
    CHECK_EQ(cmodx_block_alloc(h, 64 * KIB, &b), EFBIG);
    struct cmodx_heap_stats s;
    cmodx_heap_get_stats(h, &s);
    CHECK_EQ(s.chunks, (size_t)1);
    CHECK_EQ(cmodx_block_alloc(h, 64, &b), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

static void case_near(void)
{
    cmodx_heap *h = heap_under_limit();
    cmodx_block b;
    /* Near the heap's own code: the first chunk has room for a small
     * block; a block larger than its free space needs a new chunk. */
    cmodx_block first;
    REQUIRE(cmodx_block_alloc(h, 64, &first) == 0);
    CHECK_EQ(cmodx_block_alloc_near(h, 64, first.exec, (size_t)1 << 30, &b), 0);
    CHECK_EQ(cmodx_block_alloc_near(h, 64 * KIB, first.exec, (size_t)1 << 30, &b), EFBIG);
    CHECK(names_limit());
    CHECK(b.exec.ptr == NULL);
    CHECK(!xfsz_pending());
    CHECK(!xfsz_blocked());
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

static void case_create(void)
{
    set_fsize(32 * KIB);
    cmodx_heap *h = (cmodx_heap *)&h;
    CHECK_EQ(cmodx_heap_create(NULL, &h), EFBIG); /* 1 MiB chunks */
    CHECK(h == NULL);
    CHECK(names_limit());
    struct cmodx_heap_config c = {.chunk_bytes = 16 * KIB};
    REQUIRE(cmodx_heap_create(&c, &h) == 0);
    cmodx_block b;
    CHECK_EQ(cmodx_block_alloc(h, 64, &b), 0);
    CHECK_EQ(cmodx_block_alloc(h, 20 * KIB, &b), EFBIG); /* 16 + 20 KiB chunks */
    CHECK(!xfsz_pending());
    CHECK_EQ(cmodx_heap_destroy(h), 0);
    /* limit_bytes caps the first chunk too. */
    struct cmodx_heap_config small = {.limit_bytes = 16 * KIB};
    CHECK_EQ(cmodx_heap_create(&small, &h), 0);
    CHECK_EQ(cmodx_block_alloc(h, 64, &b), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

static void case_pending(void)
{
    cmodx_heap *h = heap_under_limit();
    sigset_t x;
    sigemptyset(&x);
    sigaddset(&x, SIGXFSZ);
    REQUIRE(pthread_sigmask(SIG_BLOCK, &x, NULL) == 0);
    REQUIRE(raise(SIGXFSZ) == 0); /* the program's own, pending */
    cmodx_block b;
    CHECK_EQ(cmodx_block_alloc(h, 64 * KIB, &b), EFBIG);
    CHECK(xfsz_pending());
    CHECK(xfsz_blocked());
    struct timespec zero = {0, 0};
    CHECK_EQ(sigtimedwait(&x, NULL, &zero), SIGXFSZ);
    CHECK(!xfsz_pending());
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

static void case_fork(void)
{
    cmodx_heap *h = heap_under_limit();
    cmodx_block b;
    REQUIRE(cmodx_block_alloc(h, 64, &b) == 0);
    set_fsize(4 * KIB); /* below the heap's 64 KiB file: the snapshot fails */
    int p[2];
    REQUIRE(pipe(p) == 0);
    int saved = dup(2);
    REQUIRE(saved >= 0 && dup2(p[1], 2) == 2);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0); /* not reached: the child's fork handler exits 127 */
    REQUIRE(dup2(saved, 2) == 2);
    close(saved);
    close(p[1]);
    REQUIRE(pid > 0);
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 127);
    char msg[512] = "";
    ssize_t n = read(p[0], msg, sizeof msg - 1);
    close(p[0]);
    msg[n > 0 ? n : 0] = 0;
    CHECK(strstr(msg, "RLIMIT_FSIZE") != NULL);
    /* The parent: alive, nothing pending, its heap usable. */
    CHECK(!xfsz_pending());
    CHECK(!xfsz_blocked());
    CHECK_EQ(cmodx_block_alloc(h, 64, &b), 0);
    CHECK_EQ(cmodx_block_free(h, b.exec), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    static const struct {
        const char *name;
        void (*fn)(void);
    } cases[] = {{"alloc", case_alloc},
                 {"near", case_near},
                 {"create", case_create},
                 {"pending", case_pending},
                 {"fork", case_fork}};
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        /* Each case in a process of its own: the limit is the process's,
         * and SIGXFSZ, if it escaped, would end only that process. */
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            cases[i].fn();
            _exit(check_finish(cases[i].name));
        }
        int st = 0;
        REQUIRE(waitpid(pid, &st, 0) == pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            failed++;
            printf("test_fsize: case %s %s %d\n", cases[i].name,
                   WIFSIGNALED(st) ? "killed by signal" : "exited", WIFSIGNALED(st)
                                                                     ? WTERMSIG(st)
                                                                     : WEXITSTATUS(st));
        }
    }
    printf("test_fsize: %s\n", failed ? "FAILED" : "ok");
    return failed != 0;
}
