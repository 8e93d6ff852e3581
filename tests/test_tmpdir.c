/*
 * tests/test_tmpdir.c - the temporary-file fallback of the code heap
 * (CMODX_HEAP_ALLOW_TMPFILE, with memfd_create made to fail) in a
 * directory that cannot hold code.  A file on a noexec mount opens and
 * grows, and fails only when mapped executable: cmodx_heap_create must
 * find that out itself, not leave it to the first allocation.
 *
 * It needs a noexec mount: in a child, a new mount namespace (in a new
 * user namespace where the kernel allows one to an unprivileged user,
 * else a mount namespace alone, which needs root) with two tmpfs mounts,
 * one noexec.  Where neither can be made, the test exits 77, which ctest
 * reports as skipped (SKIP_RETURN_CODE), never as passed; likewise where
 * an executable mapping of a file there is accepted anyway (qemu-user
 * maps guest code as data: noexec refuses nothing under it).
 *
 *   noexec    CMODX_TMPDIR on the noexec mount: cmodx_heap_create fails
 *             with EPERM or EACCES, *out NULL, the message names the
 *             directory, noexec and CMODX_TMPDIR; no other directory is
 *             used instead of the one set
 *   missing   CMODX_TMPDIR names no directory: ENOSYS or EPERM (memfd
 *             unavailable), naming it
 *   exec      CMODX_TMPDIR on the other mount: created, a block
 *             allocated, written and run
 */
#define _GNU_SOURCE
#include <cmodx/cmodx.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define SKIP 77

static int msg_has(const char *s) { return strstr(cmodx_last_error(), s) != NULL; }

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* A new mount namespace where this process may mount: 0, or -1.  In a
 * new user namespace, this process's user and group are mapped to the
 * namespace's root (so that it keeps its access to its own files). */
static int own_mounts(void)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0) {
        char map[64];
        snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
        if (write_file("/proc/self/setgroups", "deny") != 0 ||
            write_file("/proc/self/uid_map", map) != 0)
            return -1;
        snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
        if (write_file("/proc/self/gid_map", map) != 0)
            return -1;
    } else if (unshare(CLONE_NEWNS) != 0) {
        return -1;
    }
    /* Nothing mounted here reaches the parent's namespace. */
    return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

static void run_cases(const char *noexec_dir, const char *exec_dir)
{
    cmodx_debug_set_faults(CMODX_FAULT_MEMFD); /* memfd_create fails ENOSYS */
    struct cmodx_heap_config hc = {.flags = CMODX_HEAP_ALLOW_TMPFILE};
    cmodx_heap *h = (cmodx_heap *)&h;

    /* noexec */
    REQUIRE(setenv("CMODX_TMPDIR", noexec_dir, 1) == 0);
    int e = cmodx_heap_create(&hc, &h);
    CHECK(e == EPERM || e == EACCES);
    CHECK(h == NULL);
    CHECK(msg_has(noexec_dir));
    CHECK(msg_has("noexec"));
    CHECK(msg_has("CMODX_TMPDIR"));

    /* missing */
    char missing[320];
    snprintf(missing, sizeof missing, "%s/none", noexec_dir);
    REQUIRE(setenv("CMODX_TMPDIR", missing, 1) == 0);
    e = cmodx_heap_create(&hc, &h);
    CHECK(e == ENOSYS || e == EPERM);
    CHECK(h == NULL);
    CHECK(msg_has(missing));

    /* exec: the advice followed */
    REQUIRE(setenv("CMODX_TMPDIR", exec_dir, 1) == 0);
    CHECK_EQ(cmodx_heap_create(&hc, &h), 0);
    if (h) {
        cmodx_block b;
        CHECK_EQ(cmodx_block_alloc(h, 64, &b), 0);
        CHECK_EQ(cmodx_block_free(h, b.exec), 0);
        CHECK_EQ(cmodx_heap_destroy(h), 0);
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *tmp = getenv("TMPDIR");
    char base[256];
    snprintf(base, sizeof base, "%s/cmodx-tmpdir.XXXXXX", tmp && *tmp ? tmp : P_tmpdir);
    if (!mkdtemp(base)) {
        perror("test_tmpdir: mkdtemp");
        return 1;
    }
    char noexec_dir[300], exec_dir[300];
    snprintf(noexec_dir, sizeof noexec_dir, "%s/noexec", base);
    snprintf(exec_dir, sizeof exec_dir, "%s/exec", base);
    REQUIRE(mkdir(noexec_dir, 0700) == 0 && mkdir(exec_dir, 0700) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (own_mounts() != 0 ||
            mount("tmpfs", noexec_dir, "tmpfs", MS_NOEXEC | MS_NOSUID | MS_NODEV, "size=1m") != 0 ||
            mount("tmpfs", exec_dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m") != 0) {
            printf("test_tmpdir: SKIP: cannot mount a tmpfs in a mount namespace here (%s): "
                   "neither a user namespace nor root\n", strerror(errno));
            _exit(SKIP);
        }
        /* Under qemu-user the guest's executable mappings are the
         * emulator's data (it runs translations): the kernel never sees a
         * PROT_EXEC mapping of the file, and noexec refuses nothing. */
        int fd = open(noexec_dir, O_TMPFILE | O_RDWR, 0600);
        void *p = fd < 0 ? MAP_FAILED
                         : mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            printf("test_tmpdir: SKIP: an executable mapping of a file on a noexec mount is "
                   "accepted here (an emulator, which maps guest code as data)\n");
            _exit(SKIP);
        }
        if (fd >= 0)
            close(fd);
        run_cases(noexec_dir, exec_dir);
        _exit(check_finish("test_tmpdir"));
    }
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    /* The mounts died with the child's namespace. */
    rmdir(noexec_dir);
    rmdir(exec_dir);
    rmdir(base);
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    printf("test_tmpdir: child killed by signal %d\n", WTERMSIG(st));
    return 1;
}
