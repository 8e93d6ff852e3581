/*
 * cmodx-check — per-thread verdicts of translation blocks: see verdicts.h.
 *
 * Marking and invalidation race without a lock.  The invalidator (under
 * model_lock) bumps the page's change count, then, unless every verdict of
 * the page is already void (vreset), sets vreset and clears them all.  The
 * marker clears vreset, sets its entry, then reads the change count again
 * and clears its own entry if it moved since before its checks.  All with
 * sequentially consistent accesses: either the invalidator sees the
 * marker's vreset cleared (and clears the entry after it was set), or the
 * marker sees the new count (and clears the entry itself).
 */
#include "verdicts.h"

#include <stdlib.h>
#include <string.h>

#include "cmodx_check.h"

#define PER_BOARD 8192u   /* entries per scoreboard (64 KiB per vcpu) */
#define MAX_BOARDS 32u    /* 262144 blocks with checks; then unconditional checks */

static struct qemu_plugin_scoreboard *boards[MAX_BOARDS];
static unsigned nboards;
static uint32_t nentries;
static unsigned nvcpus;   /* highest vcpu index started + 1 */

static qemu_plugin_u64 entry_of(uint32_t e)
{
    qemu_plugin_u64 u = { .score = boards[e / PER_BOARD],
                          .offset = (size_t)(e % PER_BOARD) * sizeof(uint64_t) };
    return u;
}

static bool page_add(struct bpage *bp, uint32_t e)
{
    if (bp->nv > 0 && bp->vent[bp->nv - 1] == e) {
        return true;   /* the block's other instructions on the same page */
    }
    if (bp->nv == bp->capv) {
        uint32_t cap = bp->capv ? 2 * bp->capv : 8;
        uint32_t *p = realloc(bp->vent, cap * sizeof(*p));
        if (!p) {
            return false;
        }
        bp->vent = p;
        bp->capv = cap;
    }
    bp->vent[bp->nv++] = e;
    return true;
}

bool verdict_new(struct bpage *const *bp, unsigned n, qemu_plugin_u64 *entry)
{
    if (nentries == nboards * PER_BOARD) {
        if (nboards == MAX_BOARDS) {
            return false;
        }
        boards[nboards] = qemu_plugin_scoreboard_new(PER_BOARD * sizeof(uint64_t));
        if (!boards[nboards]) {
            return false;
        }
        nboards++;
    }
    for (unsigned k = 0; k < n; k++) {
        if (!page_add(bp[k], nentries)) {
            return false;   /* out of memory: a verdict nobody could void */
        }
    }
    *entry = entry_of(nentries++);
    return true;
}

void verdict_page_changed(struct bpage *bp)
{
    __atomic_add_fetch(&bp->vgen, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&bp->vreset, __ATOMIC_SEQ_CST)) {
        return;
    }
    __atomic_store_n(&bp->vreset, 1, __ATOMIC_SEQ_CST);
    unsigned nv = __atomic_load_n(&nvcpus, __ATOMIC_ACQUIRE);
    for (uint32_t k = 0; k < bp->nv; k++) {
        qemu_plugin_u64 u = entry_of(bp->vent[k]);
        for (unsigned j = 0; j < nv; j++) {
            uint64_t *p = (uint64_t *)((char *)qemu_plugin_scoreboard_find(u.score, j) + u.offset);
            __atomic_store_n(p, 0, __ATOMIC_SEQ_CST);
        }
    }
}

uint64_t verdict_page_gen(const struct bpage *bp)
{
    return __atomic_load_n(&bp->vgen, __ATOMIC_SEQ_CST);
}

void verdict_set(qemu_plugin_u64 entry, unsigned idx, struct bpage *const *bp, unsigned n,
                 const uint64_t *g)
{
    for (unsigned k = 0; k < n; k++) {
        __atomic_store_n(&bp[k]->vreset, 0, __ATOMIC_SEQ_CST);
    }
    uint64_t *p = (uint64_t *)((char *)qemu_plugin_scoreboard_find(entry.score, idx) + entry.offset);
    __atomic_store_n(p, 1, __ATOMIC_SEQ_CST);
    for (unsigned k = 0; k < n; k++) {
        if (__atomic_load_n(&bp[k]->vgen, __ATOMIC_SEQ_CST) != g[k]) {
            __atomic_store_n(p, 0, __ATOMIC_SEQ_CST);
            return;
        }
    }
}

void verdict_vcpu_start(unsigned idx)
{
    if (idx >= __atomic_load_n(&nvcpus, __ATOMIC_RELAXED)) {
        __atomic_store_n(&nvcpus, idx + 1, __ATOMIC_RELEASE);
    }
    for (unsigned b = 0; b < nboards; b++) {
        memset(qemu_plugin_scoreboard_find(boards[b], idx), 0, PER_BOARD * sizeof(uint64_t));
    }
}
