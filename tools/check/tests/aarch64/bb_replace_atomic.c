/*
 * bb_replace.c's concurrent replacement of one B by another, the new
 * branch written by an atomic read-modify-write of the instruction word
 * (argv[1]) instead of a store: the executor keeps running the patch site
 * without synchronising, which the architecture allows (the old or the new
 * branch, never a mix) and the checker notes as a stale replacement.
 *
 * The note needs the model to know the bytes the atomic wrote: both
 * branches.  qemu 10 gives an LD<op>'s write callback its operand (LDCLR:
 * its complement), not the value written, and the checker took that for
 * the new instruction: an ADD of 16 "wrote" 0x00000010, not a branch, and
 * the replacement was reported as a hazard (not-cleaned, no-context-sync)
 * instead of the note.  Each LD<op> kind is one run; SWP and CAS, which
 * qemu reports with the value written, are here too.
 *
 * The site branches to imm26 = 8 (byte 32) or 24 (byte 96): setting,
 * adding or XORing bit 4 of the word goes up, clearing it or taking the
 * minimum goes down.  The destination returns 2, the origin 1.  The
 * maximum and minimum kinds first make one that keeps the word (whose
 * operand, taken as written, would be a change), then the one that
 * writes the destination's branch (which is their operand).
 *
 * RUN: str => note:stale-replacement
 * RUN: ldadd => note:stale-replacement
 * RUN: ldeor => note:stale-replacement
 * RUN: ldset => note:stale-replacement
 * RUN: ldclr => note:stale-replacement
 * RUN: ldsmax => note:stale-replacement
 * RUN: ldsmin => note:stale-replacement
 * RUN: ldumax => note:stale-replacement
 * RUN: ldumin => note:stale-replacement
 * RUN: swp => note:stale-replacement
 * RUN: cas => note:stale-replacement
 * RUN: ldadd self => clean
 * RUN: ldumin self => clean
 * RUN: ldadd self-noisb => note:stale-replacement
 * RUN: ldclr self-noisb => note:stale-replacement
 * RUN: ldsmin self-noisb => note:stale-replacement
 *
 * With "self" as argv[2] there is no executor: the one thread patches the
 * site, maintains it with the full sequence and calls it (the checker's
 * one-thread mode, where the LD<op> kinds get a read callback for this);
 * "self-noisb" leaves the ISB out, so the replacement is noted again (a
 * hazard with the checker before b1cd738, which took the operand for the
 * new instruction there too: qemu reported it even with one thread).
 */
#include "common.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

static struct dual d;
static int started;

static void *executor(void *arg)
{
    (void)arg;
    for (long i = 0; i < 200000000L; i++) {
        if (i == 1000) {
            __atomic_store_n(&started, 1, __ATOMIC_RELEASE);
        }
        if (as_fn(d.rx)() == 2) {
            return (void *)1;
        }
    }
    return (void *)0;
}

#define RMW(op, p, v)                                                                    \
    __asm__ volatile(".arch_extension lse\n\t" op " %w1, %w0, [%2]"                      \
                     : "=&r"(old) : "r"(v), "r"(p) : "memory")

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "str";
    bool down = !strcmp(how, "ldclr") || !strcmp(how, "ldsmin") || !strcmp(how, "ldumin");
    uint32_t from = down ? 96 : 32, to = down ? 32 : 96;
    d = dual_map(4096);
    uint32_t code[28] = { 0 };
    code[0] = A64_B(0, from);                                        /* patch site */
    code[from / 4] = A64_MOV_W0(1), code[from / 4 + 1] = A64_RET;    /* origin */
    code[to / 4] = A64_MOV_W0(2), code[to / 4 + 1] = A64_RET;        /* destination */
    emit(d.rw, code, 28);
    maintain(&d, 0, sizeof(code), S_ALL);
    bool self = argc > 2 && !strncmp(argv[2], "self", 4);
    bool self_isb = self && strcmp(argv[2], "self-noisb") != 0;
    pthread_t t;
    if (!self) {
        pthread_create(&t, NULL, executor, NULL);
        while (!__atomic_load_n(&started, __ATOMIC_ACQUIRE)) {
        }
    } else if (as_fn(d.rx)() != 1) {
        return 1;
    }
    uint32_t *site = (uint32_t *)d.rw, old = 0, want = A64_B(0, to);
    if (!strcmp(how, "str")) {
        emit(d.rw, &want, 1);
    } else if (!strcmp(how, "ldadd")) {
        RMW("ldadd", site, 16u);
    } else if (!strcmp(how, "ldeor")) {
        RMW("ldeor", site, 16u);
    } else if (!strcmp(how, "ldset")) {
        RMW("ldset", site, 16u);
    } else if (!strcmp(how, "ldclr")) {
        RMW("ldclr", site, 16u);
    } else if (!strcmp(how, "ldsmax")) {
        RMW("ldsmax", site, 0u);            /* keeps the word: both branches are positive */
        RMW("ldsmax", site, want);
    } else if (!strcmp(how, "ldsmin")) {
        RMW("ldsmin", site, 0x7fffffffu);   /* keeps the word */
        RMW("ldsmin", site, want);
    } else if (!strcmp(how, "ldumax")) {
        RMW("ldumax", site, 0u);            /* keeps the word */
        RMW("ldumax", site, want);
    } else if (!strcmp(how, "ldumin")) {
        RMW("ldumin", site, 0xffffffffu);   /* keeps the word */
        RMW("ldumin", site, want);
    } else if (!strcmp(how, "swp")) {
        RMW("swp", site, want);
    } else if (!strcmp(how, "cas")) {
        old = A64_B(0, from);
        __asm__ volatile(".arch_extension lse\n\tcas %w0, %w1, [%2]"
                         : "+r"(old) : "r"(want), "r"(site) : "memory");
    } else {
        fprintf(stderr, "usage: %s [str|ldadd|ldeor|ldset|ldclr|ld{s,u}{max,min}|swp|cas]\n",
                argv[0]);
        return 2;
    }
    if (*site != want) {
        fprintf(stderr, "%s wrote %#x, not %#x\n", how, *site, want);
        return 1;
    }
    if (self) {
        /* One thread (the checker's one-thread mode): the full sequence,
         * then the new branch. */
        maintain(&d, 0, 4, self_isb ? S_ALL : S_ALL & ~S_ISB);
        return as_fn(d.rx)() == 2 ? 0 : 1;
    }
    maintain(&d, 0, 4, S_DC | S_DSB1 | S_IC | S_DSB2);
    void *r;
    pthread_join(t, &r);
    return r ? 0 : 1;
}
