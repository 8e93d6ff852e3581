/*
 * xblock.h - the part of the cross-thread same-block programs that does not
 * depend on the architecture.  The main thread runs one long straight-line
 * routine (one translation block) from the read-execute view of a memfd:
 * it publishes a generation number, runs a sled, loads the helper's "done"
 * generation, then runs the slot.  The helper thread waits for the
 * generation and stores the slot's new instruction through the read-write
 * view, then publishes "done".  When the routine's own load saw "done"
 * before the slot, the store happened while the main thread was inside
 * the block and before it fetched the slot, with nothing on the main
 * thread between them: the checker must report it.  Iterations in which
 * the helper was late are repaired (the slot rewritten and fully
 * maintained) and tried again; the loop ends at the first iteration that
 * saw the store in time, so the verdict does not depend on timing, only
 * the number of iterations does.
 *
 * The architecture's file supplies:
 *   XB_SLOT_OLD, XB_SLOT_NEW  the slot's instructions (return 1 / 7 in the
 *                             low byte, plus the loaded "done" << 8)
 *   xb_code(uint32_t *code)   writes the routine, returns its length and
 *                             sets xb_slot to the slot's index
 *   xb_repair(d, off, len)    the full maintenance for the executing thread
 */
#ifndef CHECK_TEST_XBLOCK_H
#define CHECK_TEST_XBLOCK_H

#include <pthread.h>
#include <string.h>

#define XB_SLED 400      /* one block: below qemu's 512 instructions, one page */
#define XB_TRIES 1000000u

static size_t xb_slot;
static volatile uint32_t *xb_target;
static uint32_t xb_ready, xb_done;   /* generations */

static void *xb_helper(void *arg)
{
    (void)arg;
    for (uint32_t gen = 1;; gen++) {
        uint32_t r;
        while ((r = __atomic_load_n(&xb_ready, __ATOMIC_ACQUIRE)) != gen) {
            if (r == UINT32_MAX) {
                return NULL;
            }
        }
        *xb_target = XB_SLOT_NEW;   /* a plain store instruction of the program */
        __atomic_store_n(&xb_done, gen, __ATOMIC_RELEASE);
    }
}

static inline int xb_run(void)
{
    struct dual d = dual_map(4096);
    uint32_t code[1024];
    size_t n = xb_code(code);
    emit(d.rw, code, n);
    xb_repair(&d, 0, n * 4);
    xb_target = d.rw + xb_slot;
    pthread_t th;
    if (pthread_create(&th, NULL, xb_helper, NULL) != 0) {
        return 2;
    }
    uint32_t (*fn)(uint32_t *, uint32_t *, uint32_t);
    const void *p = d.rx;
    memcpy(&fn, &p, sizeof(fn));
    int seen = 0;
    for (uint32_t gen = 1; gen <= XB_TRIES && !seen; gen++) {
        uint32_t r = fn(&xb_ready, &xb_done, gen);
        seen = (r >> 8) == gen;
        while (__atomic_load_n(&xb_done, __ATOMIC_ACQUIRE) != gen) {
        }
        /* Repair before the next try: the old slot back, maintained. */
        *xb_target = XB_SLOT_OLD;
        xb_repair(&d, xb_slot * 4, 4);
        if (seen && (r & 0xff) != 1 && (r & 0xff) != 7) {
            return 1;
        }
    }
    __atomic_store_n(&xb_ready, UINT32_MAX, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    if (!seen) {
        fprintf(stderr, "the helper's store never came inside the block\n");
        return 3;
    }
    return 0;
}

#endif
