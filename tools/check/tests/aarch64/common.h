/*
 * Helpers of the cmodx-check validation programs (AArch64).
 *
 * Each program writes a little code into a dual-mapped memfd (read-write
 * view for writing, read-execute view for running), performs or omits
 * chosen steps of the architecture's sequence and runs the code.  The
 * expected report is stated in the program's "RUN:" lines.
 */
#ifndef CHECK_TEST_COMMON_H
#define CHECK_TEST_COMMON_H

#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A64 encodings used by the programs. */
#define A64_MOV_W0(imm) (0x52800000u | ((uint32_t)(imm) << 5))   /* movz w0, #imm */
#define A64_ADD_W0_1 0x11000400u                                    /* add w0, w0, #1 */
#define A64_RET 0xd65f03c0u
#define A64_NOP 0xd503201fu
#define A64_B(from, to) (0x14000000u | ((uint32_t)(((to) - (from)) / 4) & 0x03ffffffu))

#include "../dualmap.h"

static inline void dc_cvau(const void *p) { __asm__ volatile("dc cvau, %0" ::"r"(p) : "memory"); }
static inline void ic_ivau(const void *p) { __asm__ volatile("ic ivau, %0" ::"r"(p) : "memory"); }
static inline void dsb_ish(void) { __asm__ volatile("dsb ish" ::: "memory"); }
static inline void isb(void) { __asm__ volatile("isb" ::: "memory"); }

static inline uint64_t ctr_el0(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, ctr_el0" : "=r"(v));
    return v;
}

enum step { S_DC = 1, S_DSB1 = 2, S_IC = 4, S_DSB2 = 8, S_ISB = 16, S_ALL = 31 };

/*
 * The writer's sequence over [off, off+len) of a dual mapping: clean by
 * the read-write view, invalidate by the read-execute view (both name the
 * same physical lines).  Lines of 32 bytes: what CTR_EL0 says under qemu
 * unless the program reads CTR_EL0 itself.
 */
static inline void maintain(const struct dual *d, size_t off, size_t len, unsigned steps)
{
    const char *w = (const char *)d->rw + off, *x = (const char *)d->rx + off;
    uintptr_t line = 4u << ((ctr_el0() >> 16) & 15);
    uintptr_t start = (uintptr_t)w & ~(line - 1);
    for (uintptr_t p = start; p < (uintptr_t)w + len; p += line) {
        if (steps & S_DC) {
            dc_cvau((const void *)p);
        }
    }
    if (steps & S_DSB1) {
        dsb_ish();
    }
    line = 4u << (ctr_el0() & 15);
    start = (uintptr_t)x & ~(line - 1);
    for (uintptr_t p = start; p < (uintptr_t)x + len; p += line) {
        if (steps & S_IC) {
            ic_ivau((const void *)p);
        }
    }
    if (steps & S_DSB2) {
        dsb_ish();
    }
    if (steps & S_ISB) {
        isb();
    }
}

/*
 * The whole sequence over N words of one mapping that is both written and
 * executed (the initial code of a test, before any other thread): clean,
 * DSB, invalidate, DSB, ISB, one 32-byte line (8 words) at a time.
 */
static inline void sync_words(uint32_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        dc_cvau(p + i);
    }
    dsb_ish();
    for (size_t i = 0; i < n; i += 8) {
        ic_ivau(p + i);
    }
    dsb_ish();
    isb();
}

/*
 * A chain of n threads, each created while the previous one still runs:
 * qemu-user numbers a new thread one past the highest live one, so the
 * threads created after the chain have indexes past n with only a few
 * alive.  The last one is left running (*last); storing 1 to **rel (with
 * release) lets it end.
 */
static inline void *chain_link(void *release)
{
    while (!__atomic_load_n((int *)release, __ATOMIC_ACQUIRE)) {
        sched_yield();
    }
    return NULL;
}

static inline void thread_chain(unsigned n, pthread_t *last, int **rel)
{
    static int chain_release[2];
    pthread_t prev = 0, cur;
    for (unsigned k = 0; k < n; k++) {
        __atomic_store_n(&chain_release[k % 2], 0, __ATOMIC_RELAXED);
        if (pthread_create(&cur, NULL, chain_link, &chain_release[k % 2]) != 0) {
            exit(2);
        }
        if (k) {
            __atomic_store_n(&chain_release[(k + 1) % 2], 1, __ATOMIC_RELEASE);
            pthread_join(prev, NULL);
        }
        prev = cur;
    }
    *last = prev;
    *rel = &chain_release[(n + 1) % 2];
}

typedef int (*fn_t)(void);

static inline fn_t as_fn(const void *p)
{
    fn_t f;
    memcpy(&f, &p, sizeof(f));
    return f;
}

#endif
