/*
 * A compare-and-swap or store-exclusive that fails writes nothing.
 *
 * qemu 10 implements CAS and STXR with its compare-and-exchange helper,
 * which reports a write callback carrying the new value whether or not
 * the comparison held.  The checker took that for a store: a failed CAS on
 * a code word made the failing thread the writer of an instruction it
 * never wrote, with no maintenance after it (a false not-cleaned).  Now
 * the read half decides, as qemu does (the comparand registers for CAS,
 * the last load-exclusive's value for STXR).
 *
 * The code is written and maintained once by the main thread; a second
 * thread then tries to replace its first word and fails: a CASAL whose
 * comparand is not the word's value (reported not-cleaned before the fix),
 * or a load-exclusive, CLREX and a store-exclusive (qemu makes no access
 * for a store-exclusive whose monitor was cleared: a guard).  The main
 * thread joins it, executes an ISB and calls the code: the word is still
 * what was maintained, nothing to report.
 *
 * argv[1]: cas | stxr | none (no second store at all)
 *
 * RUN: cas => clean
 * RUN: stxr => clean
 * RUN: none => clean
 */
#include "common.h"

#include <pthread.h>

static struct dual d;
static int mode;

static void *loser(void *arg)
{
    (void)arg;
    uint32_t *w = (uint32_t *)d.rw;
    if (mode == 0) {
        uint32_t expect = A64_MOV_W0(2);   /* the word holds MOV W0, #1 */
        __asm__ volatile(".arch_extension lse\n\tcasal %w0, %w2, [%1]"
                         : "+&r"(expect) : "r"(w), "r"(A64_MOV_W0(3)) : "memory");
        return (void *)(uintptr_t)(expect == A64_MOV_W0(2));   /* it stored: wrong */
    }
    if (mode == 1) {
        uint32_t v, failed;
        __asm__ volatile("ldaxr %w0, [%2]\n\tclrex\n\tmov %w0, #0x1f\n\tstlxr %w1, %w0, [%2]"
                         : "=&r"(v), "=&r"(failed) : "r"(w) : "memory");
        return (void *)(uintptr_t)(failed == 0);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        return 2;
    }
    mode = strcmp(argv[1], "cas") == 0 ? 0 : strcmp(argv[1], "stxr") == 0 ? 1 : 2;
    d = dual_map(4096);
    const uint32_t code[] = { A64_MOV_W0(1), A64_RET };
    emit(d.rw, code, 2);
    maintain(&d, 0, sizeof(code), S_ALL);
    int before = as_fn(d.rx)();
    pthread_t t;
    void *stored;
    if (pthread_create(&t, NULL, loser, NULL) != 0 || pthread_join(t, &stored) != 0) {
        return 2;
    }
    isb();
    int after = as_fn(d.rx)();
    return before == 1 && after == 1 && !stored ? 0 : 1;
}
