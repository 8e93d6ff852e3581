/*
 * A safepoint-style polling page: one thread loads from (or stores to) a
 * page in a loop while another takes its permissions away and gives them
 * back with mprotect.  The access faults when the page is PROT_NONE (the
 * thread's SIGSEGV handler skips it); one that succeeds may have its
 * callback run after the page became PROT_NONE, and the plugin's callbacks
 * read guest memory (the shadow of memory, with two threads): such a read
 * killed qemu ("QEMU internal SIGSEGV").  No code is written: the verdict
 * is clean, and the program must finish.
 *
 * argv[2], optional: first run a chain of that many threads, each
 * created before the previous one is joined: qemu-user numbers a new
 * thread after the highest live one, so the two threads here then run
 * past the checker's 1024 thread records and share its last one (whose
 * reading mark the guard once skipped as its own).
 *
 * argv[1]: loads | stores
 *
 * RUN: loads => clean
 * RUN: stores => clean
 * RUN: loads 1100 => clean
 * RUN: stores 1100 => clean
 */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>

#define TOGGLES 20000

static char *page;
static int go, stop;
static long faults, odd;
extern char poll_load[], poll_store[];   /* the instructions allowed to fault */

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ctx;
    if (uc->uc_mcontext.pc == (uint64_t)(uintptr_t)poll_load ||
        uc->uc_mcontext.pc == (uint64_t)(uintptr_t)poll_store) {
        faults++;
    } else {
        odd++;
        __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    }
    uc->uc_mcontext.pc += 4;
}

static void *toggler(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE)) {
    }
    for (int i = 0; i < TOGGLES && !__atomic_load_n(&stop, __ATOMIC_RELAXED); i++) {
        mprotect(page, 4096, PROT_NONE);
        mprotect(page, 4096, PROT_READ | PROT_WRITE);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int stores;

static void *poller(void *arg)
{
    (void)arg;
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    uint64_t sum = 0;
    char *p = page + 8;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        uint64_t x = 0;
        if (stores) {
            __asm__ volatile(".globl poll_store\npoll_store: str %1, [%0]" ::"r"(p), "r"(sum)
                             : "memory");
        } else {
            __asm__ volatile(".globl poll_load\npoll_load: ldr %0, [%1]"
                             : "+r"(x)
                             : "r"(p)
                             : "memory");
        }
        sum += x + 1;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    stores = argc > 1 && strcmp(argv[1], "stores") == 0;
    unsigned n = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
    page = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        return 2;
    }
    memset(page, 1, 1 << 16);   /* slots of the shadow for the region */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    pthread_t last = 0, t, w;
    int *rel = NULL;
    if (n) {
        thread_chain(n, &last, &rel);   /* the two threads below come after it */
    }
    if (pthread_create(&t, NULL, toggler, NULL) != 0 ||
        pthread_create(&w, NULL, poller, NULL) != 0) {
        return 2;
    }
    if (n) {
        __atomic_store_n(rel, 1, __ATOMIC_RELEASE);
        pthread_join(last, NULL);
    }
    pthread_join(w, NULL);
    pthread_join(t, NULL);
    printf("poll_page %s: %ld faults skipped, %ld elsewhere\n", stores ? "stores" : "loads",
           faults, odd);
    return odd == 0 ? 0 : 1;
}
