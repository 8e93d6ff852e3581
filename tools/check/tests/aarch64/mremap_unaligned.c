/*
 * Lengths that are not whole pages.  The kernel rounds the lengths of
 * mmap, munmap, mprotect and mremap up to whole pages; a read-write-execute
 * mapping of 6000 bytes is two pages, and stays two pages when mremap
 * keeps, shrinks to or moves 6000 bytes.  Code written into its second
 * page with no maintenance and called was never cleaned.
 *
 * Found by the hostile review: the model took the lengths as given, so an
 * mremap dropped the second page's mark of a page that may hold code, and
 * its stores were never recorded (clean, "0 code writes tracked").
 *
 * RUN: none => not-cleaned
 * RUN: same => not-cleaned
 * RUN: shrink => not-cleaned
 * RUN: move => not-cleaned
 */
#include "common.h"

#include <string.h>
#include <sys/mman.h>

#define PAGE 4096

static char *rwx(size_t len)
{
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    return p;
}

static char *remap(char *p, size_t oldlen, size_t newlen, int flags, void *to)
{
    char *q = mremap(p, oldlen, newlen, flags, to);
    if (q == MAP_FAILED) {
        perror("mremap");
        exit(2);
    }
    return q;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    char *p;
    if (!strcmp(mode, "none")) {
        p = rwx(6000);
    } else if (!strcmp(mode, "same")) {
        p = remap(rwx(6000), 6000, 6000, 0, NULL);
    } else if (!strcmp(mode, "shrink")) {
        p = remap(rwx(3 * PAGE), 3 * PAGE, 6000, 0, NULL);
    } else if (!strcmp(mode, "move")) {
        void *to = mmap(NULL, 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (to == MAP_FAILED) {
            perror("mmap");
            return 2;
        }
        p = remap(rwx(6000), 6000, 6000, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    } else {
        fprintf(stderr, "usage: mremap_unaligned none|same|shrink|move\n");
        return 2;
    }
    const uint32_t code[] = { A64_MOV_W0(7), A64_RET };
    uint32_t *c = (uint32_t *)(p + PAGE);
    memcpy(c, code, sizeof(code));   /* no maintenance */
    return as_fn(c)() == 7 ? 0 : 1;
}
