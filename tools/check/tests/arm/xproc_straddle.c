/*
 * Found by a review of the cross-process checker (fixed with it):
 * 32-bit Thumb instructions at 2-aligned
 * addresses straddle words.  The child writes words 16 and 18 (nop; the
 * first half of movw r0,#7 | the second half of add.w r0,r0,#1; bx lr)
 * and cacheflushes them; the parent, after read(2), writes word 17 (the
 * second half of the movw, the first half of the add.w) with NO
 * cacheflush and calls byte 66 (Thumb).  Mode "control": the parent writes
 * all three words itself (16 and 18 flushed, 17 not).  Expect
 * no-cacheflush in both.
 *
 * RUN: mixed => no-cacheflush
 * RUN: control => no-cacheflush
 */
#include "common.h"
#include "../xproc.h"

static uint32_t *mem;
static int control;

static void put_child_words(void)
{
    volatile uint32_t *w = mem;
    w[16] = 0xf240bf00u;   /* nop ; movw r0,#7 (first half) */
    w[18] = 0x47700001u;   /* add.w (second half) ; bx lr */
    cacheflush(mem + 16, mem + 19);
}

static void child(void *arg)
{
    (void)arg;
    if (!control) {
        put_child_words();
    }
}

int main(int argc, char **argv)
{
    control = argc > 1 && strcmp(argv[1], "control") == 0;
    mem = xp_shared_page();
    pid_t p = mem ? xp_child_writes(child, NULL) : -1;
    if (p < 0) {
        return 2;
    }
    if (control) {
        put_child_words();
    }
    volatile uint32_t *w = mem;
    w[17] = 0xf1000007u;   /* movw (second half) ; add.w r0,r0,#1 (first half) */
    int (*f)(void);
    uintptr_t a = (uintptr_t)mem + 66 + 1;
    memcpy(&f, &a, sizeof(f));
    return xp_status(p, f(), 8);
}
