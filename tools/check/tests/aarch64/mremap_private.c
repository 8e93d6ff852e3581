/*
 * Private memory moved by mremap(2) keeps its pages, and with them what
 * was written there and how it was maintained: the model must follow the
 * pages to their new address.
 *
 *   move, nomove: code written into a private read-write-execute page with
 *     no maintenance at all, then called (moved first, or not): the
 *     instruction was never cleaned, wherever it runs.
 *   move-maintained: the same code with the whole sequence before the
 *     move: nothing is missing (mremap is a system call, whose return is
 *     context synchronising).
 *   move2: two private read-write pages; code written into the second and
 *     maintained (the maintenance makes that page one that may hold code),
 *     both pages moved, the code rewritten at the new address with no
 *     maintenance, the pages made executable and the code called: the
 *     rewrite was never cleaned.
 *   regrow: the same two pages, the code maintained in the second; the
 *     second page unmapped and the mapping grown back over it in place,
 *     fresh memory; code written there (not yet a page that may hold
 *     code), made executable and called: never cleaned.  A grown page
 *     that took the identity of the page unmapped there kept its state
 *     (maintained) and the run was clean.
 *
 * Found by the hostile review: private pages were keyed by their virtual
 * page number, so a moved page came with no history (move: 0 hazards), and
 * a move kept a range's "may hold code" mark only if its first page had it.
 *
 * RUN: move => not-cleaned
 * RUN: nomove => not-cleaned
 * RUN: move-maintained => clean
 * RUN: move2 => not-cleaned
 * RUN: regrow => not-cleaned
 */
#include "common.h"

#include <string.h>
#include <sys/mman.h>

#define PAGE 4096

static void *move_to_fresh(void *p, size_t len)
{
    void *dst = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (dst == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    void *q = mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    if (q == MAP_FAILED) {
        perror("mremap");
        exit(2);
    }
    return q;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    const uint32_t code[] = { A64_MOV_W0(7), A64_RET };
    if (!strcmp(mode, "move") || !strcmp(mode, "nomove") || !strcmp(mode, "move-maintained")) {
        uint32_t *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            perror("mmap");
            return 2;
        }
        memcpy(p, code, sizeof(code));
        if (!strcmp(mode, "move-maintained")) {
            sync_words(p, 2);
        }
        if (strcmp(mode, "nomove") != 0) {
            p = move_to_fresh(p, PAGE);
        }
        return as_fn(p)() == 7 ? 0 : 1;
    }
    if (!strcmp(mode, "move2")) {
        char *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            perror("mmap");
            return 2;
        }
        m[0] = 1;   /* the first page: data */
        uint32_t *p = (uint32_t *)(m + PAGE);
        memcpy(p, code, sizeof(code));
        sync_words(p, 2);
        m = move_to_fresh(m, 2 * PAGE);
        p = (uint32_t *)(m + PAGE);
        const uint32_t mov9 = A64_MOV_W0(9);
        memcpy(p, &mov9, sizeof(mov9));   /* no maintenance */
        if (mprotect(m, 2 * PAGE, PROT_READ | PROT_EXEC) != 0) {
            perror("mprotect");
            return 2;
        }
        int got = as_fn(p)();
        return got == 9 || got == 7 ? 0 : 1;
    }
    if (!strcmp(mode, "regrow")) {
        char *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            perror("mmap");
            return 2;
        }
        m[0] = 1;
        uint32_t *p = (uint32_t *)(m + PAGE);
        memcpy(p, code, sizeof(code));
        sync_words(p, 2);
        if (munmap(m + PAGE, PAGE) != 0 || mremap(m, PAGE, 2 * PAGE, 0) != m) {
            perror("munmap/mremap");
            return 2;
        }
        memcpy(p, code, sizeof(code));   /* fresh memory: no maintenance */
        if (mprotect(m, 2 * PAGE, PROT_READ | PROT_EXEC) != 0) {
            perror("mprotect");
            return 2;
        }
        return as_fn(p)() == 7 ? 0 : 1;
    }
    fprintf(stderr, "usage: mremap_private move|nomove|move-maintained|move2|regrow\n");
    return 2;
}
