/*
 * stale.c with the code rewritten by atomics (AMOADD.W, then an AMOMAXU.W
 * that keeps the word) through the read-write view, then fence.i (made
 * migration-safe with the prctl): correct on hardware, but qemu-user keeps
 * running its old translation, which the checker notes as the emulator's
 * own stale code.
 *
 * The note needs the model's copy of the page to hold what the atomics
 * wrote: a translation whose bytes equal that copy is taken for a store in
 * flight, not for stale code.  qemu 10 reports an AMO<op>'s operand as the
 * value written when it runs the instruction with its atomic helpers; the
 * checker took it as such, and the AMOMAXU's operand here is the old
 * instruction: the note was lost.  The value is computed from the value
 * read and the operand register now.
 *
 * RUN: => note:stale-translation
 */
#include "common.h"

int main(void)
{
    fence_i_ctx(0);
    struct dual d = dual_map(4096);
    const uint32_t one[] = { RV_LI_A0(1), RV_RET };
    emit(d.rw, one, 2);
    fence_i();
    int first = as_fn(d.rx)();
    uint32_t *site = (uint32_t *)d.rw, old;
    uint32_t add = RV_LI_A0(2) - RV_LI_A0(1), keep = RV_LI_A0(1);
    __asm__ volatile("amoadd.w %0, %2, (%1)" : "=r"(old) : "r"(site), "r"(add) : "memory");
    __asm__ volatile("amomaxu.w %0, %2, (%1)" : "=r"(old) : "r"(site), "r"(keep) : "memory");
    fence_i();
    int second = as_fn(d.rx)();
    printf("stale: first call %d, second call %d, word %#x\n", first, second, *site);
    return first == 1 && *site == RV_LI_A0(2) ? 0 : 1;
}
