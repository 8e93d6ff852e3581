/*
 * Memory qemu mapped itself (here the program's .bss), maintained
 * before it has any mapping the model knows, then written with code and
 * made executable by its first mprotect.
 *
 *   premaint: the whole sequence on the page first (which
 *     makes it a page that may hold code), then code written with no
 *     maintenance, mprotect read-write-execute, called: never cleaned.
 *   plain: no maintenance at all: never cleaned.
 *   full: the sequence again after the write: clean.
 *
 * Found by the hostile review: the first mprotect gave such memory a
 * mapping of a new identity, so the stores recorded before it, under the
 * key of memory with no mapping, were lost (premaint: clean).
 *
 * RUN: premaint => not-cleaned
 * RUN: plain => not-cleaned
 * RUN: full => clean
 */
#include "common.h"

#include <string.h>
#include <sys/mman.h>

#define PAGE 4096

static uint32_t bss[2 * PAGE / 4] __attribute__((aligned(PAGE)));

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    uint32_t *p = bss + PAGE / 4;
    if (strcmp(mode, "premaint") && strcmp(mode, "plain") && strcmp(mode, "full")) {
        fprintf(stderr, "usage: premaint_protect premaint|plain|full\n");
        return 2;
    }
    if (!strcmp(mode, "premaint") || !strcmp(mode, "full")) {
        sync_words(p, 2);
    }
    const uint32_t code[] = { A64_MOV_W0(7), A64_RET };
    memcpy(p, code, sizeof(code));
    if (!strcmp(mode, "full")) {
        sync_words(p, 2);
    }
    if (mprotect(p, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
        perror("mprotect");
        return 2;
    }
    return as_fn(p)() == 7 ? 0 : 1;
}
