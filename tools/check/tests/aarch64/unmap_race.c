/*
 * A page made executable by one thread while another unmaps it.  Making
 * private anonymous memory executable (or maintaining it) makes the
 * checker read the page, to mark the words written before tracking began
 * (model.c, promote; a page's first state, bpage_words).  The mapping is
 * dropped from the checker's records only when the unmapping call
 * returns, so the read could meet a page already gone from the host: a
 * fault of the checker's own, which kills qemu, in a program that is
 * correct (its mprotect fails with ENOMEM, or succeeds, either way
 * harmlessly).  The checker now copies the page with process_vm_readv,
 * which fails instead.
 *
 * The unmapper maps a page at a fixed address, writes non-zero words into
 * it (they must then be marked written) and unmaps it, ROUNDS times; the
 * other thread keeps making the address readable, writable and executable
 * (its mprotect fails while nothing is mapped there).  No code runs from
 * the page: nothing to report.
 *
 * RUN: => clean
 */
#include "common.h"

#include <errno.h>

#define ROUNDS 20000

static uint32_t *page;
static int done;

static void *protector(void *arg)
{
    (void)arg;
    unsigned ok = 0;
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        if (mprotect(page, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) == 0) {
            ok++;
        } else if (errno != ENOMEM) {
            perror("mprotect");
            exit(2);
        }
    }
    return (void *)(uintptr_t)ok;
}

int main(void)
{
    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED || munmap(page, 4096) != 0) {
        perror("mmap");
        return 2;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, protector, NULL) != 0) {
        return 2;
    }
    for (unsigned r = 0; r < ROUNDS; r++) {
        uint32_t *p = mmap(page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                           -1, 0);
        if (p != page) {
            perror("mmap");
            return 2;
        }
        for (unsigned i = 0; i < 1024; i += 64) {
            p[i] = A64_NOP;
        }
        munmap(p, 4096);
    }
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    void *ok;
    pthread_join(t, &ok);
    printf("ok (%u mprotect calls found the page)\n", (unsigned)(uintptr_t)ok);
    return 0;
}
