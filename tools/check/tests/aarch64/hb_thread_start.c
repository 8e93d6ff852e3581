/*
 * Root cause F (reported on the canonical publish pattern): a store made
 * by a thread right after it created another one carried nothing to the
 * new thread's loads.  The writer creates a caller thread, then at once
 * (no system call, no handshake) writes a fresh block, completes the
 * maintenance (DC CVAU, DSB, IC IVAU, DSB) and publishes the block's
 * address with a store-release; the caller loads the address with
 * load-acquire, executes an ISB and calls it.  herd7 forbids the stale
 * fetch: the maintenance is ordered before the release, the release
 * before the acquire (reads-from), the acquire before the ISB.
 *
 * The checker kept the shadow of memory (what each store carries to the
 * loads that read it) only once a second thread was running, and learnt
 * that in the new thread's first callback, which qemu runs on that thread
 * whenever the host starts it: a publish made by the creator in between
 * left no shadow, and the caller's acquire ordered nothing before its ISB
 * (a false no-context-sync, on every call until the next publish).  It
 * now starts at the creator's clone.  The window is met at a process's
 * first thread creation only (the shadow, once on, stays on), so each
 * round is a child process of its own, forked by a main thread that
 * never creates a thread: ROUNDS windows per run.
 *
 * The writer makes no system call between its publish and the caller's
 * answer: the caller's start acquires what the kernel was given, and a
 * call there would order the maintenance before the caller's fetches in
 * the noisb run (a thread started late would have nothing to report).
 *
 * argv[1]: isb (the caller executes an ISB after its load), noisb (it
 *          does not: the report that must remain).
 *
 * RUN: isb => clean
 * RUN: noisb => no-context-sync
 */
#include "common.h"

#include <pthread.h>
#include <sys/wait.h>

#define ROUNDS 20
#define BLOCK_WORDS 16   /* a fresh 64-byte block for every publish */

static struct dual d;
static const void *current;   /* the published code */
static int done;              /* the caller ran the round's block */
static int mode_isb;
static uint32_t want;         /* the value the round's block returns */

static void *caller(void *arg)
{
    (void)arg;
    for (;;) {
        const void *p = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
        if (mode_isb) {
            isb();
        }
        if ((uint32_t)as_fn(p)() == __atomic_load_n(&want, __ATOMIC_RELAXED)) {
            break;
        }
    }
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Write block k returning k, with the whole maintenance sequence. */
static const void *make_block(unsigned k)
{
    const uint32_t code[] = { A64_MOV_W0(k), A64_RET };
    size_t off = (size_t)k * BLOCK_WORDS * 4;
    emit(d.rw + off / 4, code, 2);
    maintain(&d, off, sizeof(code), S_DC | S_DSB1 | S_IC | S_DSB2);
    return (const char *)d.rx + off;
}

/* One round, in a process that has no other thread yet. */
static int round_in_child(unsigned r)
{
    /* The block the caller finds first, published before it exists
     * (the kernel passes it on at the clone). */
    __atomic_store_n(&want, 2 * r + 2, __ATOMIC_RELAXED);
    __atomic_store_n(&current, make_block(2 * r + 1), __ATOMIC_RELEASE);
    pthread_t t;
    if (pthread_create(&t, NULL, caller, NULL) != 0) {
        return 2;
    }
    /* At once: the caller may not have run an instruction yet. */
    __atomic_store_n(&current, make_block(2 * r + 2), __ATOMIC_RELEASE);
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        /* spin: no system call until the caller answered */
    }
    pthread_join(t, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "isb";
    mode_isb = strcmp(mode, "isb") == 0;
    d = dual_map((size_t)(2 * ROUNDS + 2) * BLOCK_WORDS * 4 + 4096);
    for (unsigned r = 0; r < ROUNDS; r++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            _exit(round_in_child(r));
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            return 1;
        }
    }
    return 0;
}
