/* tests/testutil.h - helpers shared by the tests: build a function that
 * returns a constant, run code while catching traps, scan /proc/self/maps,
 * turn a hang into a failure with its name, wait for a child, fork from a
 * signal handler. */
#ifndef CMODX_TEST_UTIL_H
#define CMODX_TEST_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "cmodx/cmodx.h"

typedef uint32_t (*ret_fn)(void);

/* A hang detector, not a speed limit: test_watchdog(WHAT, SECONDS) arms
 * an alarm; if it fires, the test prints "<program>: HANG (DEADLOCK) in:
 * WHAT" and exits 99.  TEST_WATCHDOG_S (a positive number of seconds)
 * replaces SECONDS: tools/mutate shortens it where a deadlock is the
 * expected outcome, and greps for DEADLOCK.  test_hang_what may be set to
 * name a later step under the same alarm; alarm(0) disarms. */
extern char *program_invocation_short_name; /* glibc; errno.h with _GNU_SOURCE */
static const char *volatile test_hang_what = "?";

static inline void test_on_alarm(int sig)
{
    (void)sig;
    static const char m[] = ": HANG (DEADLOCK) in: ";
    const char *what = test_hang_what;
    if (write(2, program_invocation_short_name, strlen(program_invocation_short_name)) < 0 ||
        write(2, m, sizeof m - 1) < 0 || write(2, what, strlen(what)) < 0 ||
        write(2, "\n", 1) < 0) {
    }
    _exit(99);
}

static inline void test_watchdog(const char *what, unsigned seconds)
{
    const char *env = getenv("TEST_WATCHDOG_S");
    if (env && atoi(env) > 0)
        seconds = (unsigned)atoi(env);
    test_hang_what = what;
    signal(SIGALRM, test_on_alarm);
    alarm(seconds);
}

/* Function pointers from execute-view addresses (the one cast in tests). */
static inline ret_fn as_fn(cmodx_xptr x)
{
    ret_fn f;
    const void *p = x.ptr;
    memcpy(&f, &p, sizeof f);
    return f;
}

/* Write "return value" at OFFSET of block B and publish it to this thread. */
static inline int write_return(const cmodx_block *b, size_t offset, uint32_t value)
{
    cmodx_wptr w = {(char *)b->write.ptr + offset};
    cmodx_xptr x = {(const char *)b->exec.ptr + offset};
    if (!cmodx_emit_return_u32(w, b->size - offset, value))
        return -1;
    return cmodx_make_visible(x, cmodx_emit_return_u32_size());
}

/* A fresh 64-byte block of HEAP holding "return V", written through its
 * write view; the caller makes it visible (or publishes it). */
static inline cmodx_xptr make_fn(cmodx_heap *heap, uint32_t v)
{
    cmodx_block b;
    REQUIRE(cmodx_block_alloc(heap, 64, &b) == 0);
    REQUIRE(cmodx_emit_return_u32(b.write, b.size, v) > 0);
    return b.exec;
}

/* A fresh 64-byte block of HEAP holding "return V", made visible to this
 * thread (make_fn without the visibility, as a block). */
static inline cmodx_block block_returning(cmodx_heap *heap, uint32_t v)
{
    cmodx_block b;
    REQUIRE(cmodx_block_alloc(heap, 64, &b) == 0);
    REQUIRE(cmodx_emit_return_u32(b.write, b.size, v) > 0);
    REQUIRE(cmodx_make_visible(b.exec, b.size) == 0);
    return b;
}

/* Bounded waits that may legitimately expire on a slow or loaded machine
 * (a grace period, the signal strategy's acknowledgements, back-pressure)
 * end in the documented ETIMEDOUT with nothing changed: a test that wants
 * the call to succeed retries it, so that it asserts correctness, not
 * speed (issue 12, kind 10).  A test about the timeout itself calls the
 * library directly and expects ETIMEDOUT; a real hang is caught by the
 * test's own watchdog or by ctest's timeout. */
static inline int publish_retrying(cmodx_slot *slot, cmodx_xptr code, size_t len, unsigned flags,
                                   cmodx_xptr *old)
{
    int err;
    while ((err = cmodx_slot_publish(slot, code, len, flags, old)) == ETIMEDOUT)
        fprintf(stderr, "publish timed out (slow machine?): retrying: %s\n", cmodx_last_error());
    return err;
}

static inline int synchronize_retrying(cmodx_domain *d, unsigned timeout_ms)
{
    int err;
    while ((err = cmodx_synchronize(d, timeout_ms)) == ETIMEDOUT)
        fprintf(stderr, "synchronize timed out (slow machine?): retrying: %s\n",
                cmodx_last_error());
    return err;
}

/* Wait for child PID: its exit code, or 128 + the signal that killed it
 * (said on stderr). */
static inline int child_status(pid_t pid)
{
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    if (WIFSIGNALED(st)) {
        fprintf(stderr, "child killed by signal %d (%s)\n", WTERMSIG(st), strsignal(WTERMSIG(st)));
        return 128 + WTERMSIG(st);
    }
    return WEXITSTATUS(st);
}

/* A fork from a signal handler: handler_fork_install(SIG, CHILD) makes
 * SIG's handler fork and run CHILD in the child (CHILD ends with _exit:
 * the child never returns into the interrupted frame);
 * handler_fork_in(T, SIG) sends SIG to thread T, waits until its
 * handler has forked and returns the child's child_status(). */
static void (*handler_fork_child)(void);
static pid_t handler_fork_pid; /* atomic: set by the handler in the parent */

static inline void handler_fork(int sig)
{
    (void)sig;
    int saved = errno;
    pid_t p = fork();
    if (p == 0)
        handler_fork_child();
    __atomic_store_n(&handler_fork_pid, p, __ATOMIC_RELEASE);
    errno = saved;
}

static inline void handler_fork_install(int sig, void (*child)(void))
{
    handler_fork_child = child;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler_fork;
    sigemptyset(&sa.sa_mask);
    REQUIRE(sigaction(sig, &sa, NULL) == 0);
}

static inline int handler_fork_in(pthread_t t, int sig)
{
    __atomic_store_n(&handler_fork_pid, 0, __ATOMIC_RELEASE);
    REQUIRE(pthread_kill(t, sig) == 0);
    pid_t p;
    while (!(p = __atomic_load_n(&handler_fork_pid, __ATOMIC_ACQUIRE)))
        usleep(1000);
    return child_status(p);
}

/* A thread registered (online) in DOMAIN that blocks signal SIG, so it
 * never acknowledges the signal strategy until silent_release(). */
struct silent_thread {
    pthread_t thread;
    cmodx_domain *domain;
    int sig;
    int stage; /* 0 starting, 1 silent, 2 released */
};

static void *silent_thread_main(void *arg)
{
    struct silent_thread *s = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, s->sig);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    REQUIRE(cmodx_thread_register(s->domain, NULL) == 0);
    __atomic_store_n(&s->stage, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&s->stage, __ATOMIC_ACQUIRE) == 1)
        usleep(1000);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL); /* the pending signal acks now */
    cmodx_thread_unregister(s->domain);
    return NULL;
}

static inline void silent_start(struct silent_thread *s, cmodx_domain *domain, int sig)
{
    s->domain = domain;
    s->sig = sig;
    s->stage = 0;
    pthread_create(&s->thread, NULL, silent_thread_main, s);
    while (!__atomic_load_n(&s->stage, __ATOMIC_ACQUIRE))
        usleep(1000);
}

static inline void silent_release(struct silent_thread *s)
{
    __atomic_store_n(&s->stage, 2, __ATOMIC_RELEASE);
    pthread_join(s->thread, NULL);
}

/* Count mappings in /proc/self/maps that are both writable and executable.
 * Under valgrind its own translation cache is such a mapping (anonymous);
 * ours are always file-backed (the memfd or the temporary file). */
static inline int count_wx_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    const char *preload = getenv("LD_PRELOAD");
    int under_valgrind = preload && strstr(preload, "vgpreload");
    char line[512];
    int n = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        char perms[8];
        unsigned long inode = 0;
        if (sscanf(line, "%*s %7s %*s %*s %lu", perms, &inode) >= 1 && perms[1] == 'w' &&
            perms[2] == 'x' && !(under_valgrind && inode == 0)) {
            fprintf(stderr, "W+X mapping: %s", line);
            n++;
        }
    }
    fclose(f);
    return n;
}

/* Running code that may trap: call_catching() returns 1 and stores the
 * result when F returned, 0 when it raised SIGILL/SIGTRAP/SIGSEGV/SIGBUS. */
static sigjmp_buf trap_jmp;
static volatile sig_atomic_t trap_signal;

static void trap_handler(int sig)
{
    trap_signal = sig;
    siglongjmp(trap_jmp, 1);
}

static inline int call_catching(ret_fn f, uint32_t *result)
{
    struct sigaction sa, old[4];
    const int sigs[4] = {SIGILL, SIGTRAP, SIGSEGV, SIGBUS};
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = trap_handler;
    sa.sa_flags = SA_NODEFER;
    for (int i = 0; i < 4; i++)
        sigaction(sigs[i], &sa, &old[i]);
    int returned = 0;
    trap_signal = 0;
    if (sigsetjmp(trap_jmp, 1) == 0) {
        *result = f();
        returned = 1;
    }
    for (int i = 0; i < 4; i++)
        sigaction(sigs[i], &old[i], NULL);
    return returned;
}

#endif
