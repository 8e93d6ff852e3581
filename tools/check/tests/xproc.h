/*
 * xproc.h - the part of the cross-process programs that does not depend on
 * the architecture: a forked child writes (and maybe maintains) code in
 * memory it shares with its parent, then tells the parent over a pipe; the
 * parent's read(2) returns through an exception (context synchronising),
 * and the parent goes on to run the code.
 */
#ifndef CHECK_TEST_XPROC_H
#define CHECK_TEST_XPROC_H

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* One read-write-execute page shared with the children forked later. */
static inline void *xp_shared_page(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Fork; the child runs child(arg), tells the parent and exits.  Returns
 * the child's pid once it has told (-1 on failure). */
static inline pid_t xp_child_writes(void (*child)(void *), void *arg)
{
    int fds[2];
    alarm(120);
    if (pipe(fds) != 0) {
        return -1;
    }
    pid_t p = fork();
    if (p == 0) {
        close(fds[0]);
        child(arg);
        char c = 1;
        _exit(write(fds[1], &c, 1) == 1 ? 0 : 1);
    }
    /* The parent keeps no write end: a child that dies before telling
     * ends the read at once (0 bytes), not at the alarm. */
    close(fds[1]);
    char c;
    ssize_t n = p < 0 ? -1 : read(fds[0], &c, 1);
    close(fds[0]);
    return n == 1 ? p : -1;
}

struct xp_thread_arg {
    void (*fn)(void *);
    void *arg;
};

static inline void *xp_thread_main(void *a)
{
    const struct xp_thread_arg *t = a;
    t->fn(t->arg);
    return NULL;
}

/* The writer in a forked child (fork_mode) or in a thread of this process
 * that has ended when this returns: the child's pid, 0 for a thread, -1
 * on failure. */
static inline pid_t xp_writer(int fork_mode, void (*fn)(void *), void *arg)
{
    if (fork_mode) {
        return xp_child_writes(fn, arg);
    }
    struct xp_thread_arg ta = { fn, arg };
    pthread_t t;
    if (pthread_create(&t, NULL, xp_thread_main, &ta) != 0 || pthread_join(t, NULL) != 0) {
        return -1;
    }
    return 0;
}

/* The parent's status: 3 if the child failed, else 0 when the code
 * returned `want`, 1 when it did not.  child 0: the writer was a thread. */
static inline int xp_status(pid_t child, int got, int want)
{
    if (child == 0) {
        return got == want ? 0 : 1;
    }
    int st;
    if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        return 3;
    }
    return got == want ? 0 : 1;
}

#endif
