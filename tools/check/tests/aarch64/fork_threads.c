/*
 * fork(2) while other threads store instructions and run them.  Each
 * worker thread rewrites its own buffer over and over (full sequence, then
 * runs it); the main thread forks several times meanwhile.  Each child is
 * a process with one thread (the forking one): it writes and runs code of
 * its own, correctly or with no maintenance at all, and exits.  The child
 * must neither wait for the parent's other threads (which do not exist in
 * it) nor inherit a lock one of them held, and its verdict is its own.
 * An alarm turns a hang into a failure (SIGALRM kills the process).
 *
 * RUN: clean => clean
 * RUN: child-nomaint => not-cleaned
 */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define WORKERS 3
#define FORKS 6

static int stop;

static void *worker(void *arg)
{
    struct dual *d = arg;
    unsigned k = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        const uint32_t code[] = { A64_MOV_W0(k & 0xfff), A64_RET };
        emit(d->rw, code, 2);
        maintain(d, 0, sizeof(code), S_ALL);
        if (as_fn(d->rx)() != (int)(k & 0xfff)) {
            exit(3);
        }
        k++;
    }
    return NULL;
}

static int child(int nomaint)
{
    struct dual d = dual_map(4096);
    const uint32_t code[] = { A64_MOV_W0(42), A64_RET };
    emit(d.rw, code, 2);
    if (!nomaint) {
        maintain(&d, 0, sizeof(code), S_ALL);
    }
    return as_fn(d.rx)() == 42 ? 0 : 1;
}

int main(int argc, char **argv)
{
    int nomaint = argc > 1 && strcmp(argv[1], "child-nomaint") == 0;
    alarm(120);
    struct dual d[WORKERS];
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        d[i] = dual_map(4096);
        pthread_create(&t[i], NULL, worker, &d[i]);
    }
    int bad = 0;
    for (int f = 0; f < FORKS; f++) {
        pid_t p = fork();
        if (p < 0) {
            perror("fork");
            return 2;
        }
        if (p == 0) {
            alarm(60);
            _exit(child(nomaint));
        }
        int st;
        if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            bad = 1;
        }
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(t[i], NULL);
    }
    return bad;
}
