/*
 * Threads created while others make system calls that change what their
 * code pages hold.  qemu keeps a plugin's per-thread entries (its
 * scoreboards) in arrays sized for 16 thread indexes at first, and when a
 * new thread's index passes the size it reallocates them in an exclusive
 * section, which waits only for threads executing guest code.  The
 * checker writes its entries from callbacks that run outside guest code
 * too: a system call that makes a page executable voids the page's
 * verdicts, and a new thread clears its own.  Written while qemu moved the
 * arrays, they went to freed memory: "QEMU internal SIGSEGV", a heap
 * corruption or a hang in about one run in ten of this program, in none
 * since such callbacks wait while a thread is being created (gate.h).
 *
 * The main thread first rewrites and runs code of its own MAIN_ROUNDS
 * times (the checker then has entries to move).  It then starts argv[1]
 * threads at once; each rewrites its own private page ROUNDS times, made
 * writable, written, made executable again by mprotect, maintained with
 * the whole sequence (DC CVAU, DSB, IC IVAU, DSB, ISB) and called.  Every
 * call must return its round's value, and nothing is to be reported.
 * Each run has one chance per doubling of the thread count to hit the
 * window, hence several runs.
 *
 * RUN: 70 => clean
 * RUN: 70 => clean
 * RUN: 70 => clean
 * RUN: 24 => clean
 * RUN: 24 => clean
 */
#include "common.h"

#define ROUNDS 300
#define MAIN_ROUNDS 50
#define MAX_THREADS 256

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    uint32_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    for (unsigned r = 0; r < ROUNDS; r++) {
        unsigned want = (id * ROUNDS + r) & 0xffff;
        if (mprotect(p, 4096, PROT_READ | PROT_WRITE) != 0) {
            perror("mprotect");
            exit(2);
        }
        p[0] = A64_MOV_W0(want);
        p[1] = A64_RET;
        if (mprotect(p, 4096, PROT_READ | PROT_EXEC) != 0) {
            perror("mprotect");
            exit(2);
        }
        sync_words(p, 2);
        unsigned got = (unsigned)as_fn(p)();
        if (got != want) {
            fprintf(stderr, "thread %u round %u: %u, not %u\n", id, r, got, want);
            exit(1);
        }
    }
    munmap(p, 4096);
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 70;
    if (n > MAX_THREADS) {
        fprintf(stderr, "at most %u threads\n", MAX_THREADS);
        return 2;
    }
    uint32_t *own = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (own == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    for (unsigned k = 0; k < MAIN_ROUNDS; k++) {
        own[0] = A64_MOV_W0(k);
        own[1] = A64_RET;
        sync_words(own, 2);
        if ((unsigned)as_fn(own)() != k) {
            fprintf(stderr, "main: round %u\n", k);
            return 1;
        }
    }
    pthread_t t[MAX_THREADS];
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i) != 0) {
            return 2;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
    }
    puts("ok");
    return 0;
}
