/*
 * cmodx-check — per-thread verdicts of translation blocks: see verdicts.h.
 *
 * Marking and voiding race without a lock.  The voider (under model_lock)
 * bumps the page's change count, then, unless every verdict of the page
 * is already void (vreset), sets vreset and clears the pool.  The marker
 * clears vreset, writes its tag, then reads the change count again and
 * clears its entry if it moved since before its checks.  All with
 * sequentially consistent accesses: either the voider sees the marker's
 * vreset cleared (and clears the entry after the tag was written), or the
 * marker sees the new count (and clears the entry itself).  Clearing an
 * entry another block of the pool has since tagged only costs that block
 * a check.
 */
#include "verdicts.h"

#include <string.h>

#include "cmodx_check.h"
#include "gate.h"

#define POOL 64u          /* entries per page: blocks beyond take turns */
#define PER_BOARD 8192u   /* entries per scoreboard (64 KiB per vcpu) */
#define MAX_BOARDS 32u    /* 4096 pages of code with verdicts; then unconditional checks */
_Static_assert(PER_BOARD % POOL == 0, "a pool lies in one board");

static struct qemu_plugin_scoreboard *boards[MAX_BOARDS];
static unsigned nboards;
static uint32_t nentries;
static uint64_t ntags;
static struct bpage *pool_page[MAX_BOARDS * PER_BOARD / POOL];   /* pool -> page */

static uint64_t *entry_ptr(uint32_t e, unsigned idx)
{
    return (uint64_t *)((char *)qemu_plugin_scoreboard_find(boards[e / PER_BOARD], idx) +
                        (size_t)(e % PER_BOARD) * sizeof(uint64_t));
}

bool verdict_new(struct bpage *bp, qemu_plugin_u64 *entry, uint64_t *tag)
{
    if (!bp->vpool) {
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
        bp->vpool = nentries + 1;   /* PER_BOARD is a multiple of POOL: one board */
        pool_page[nentries / POOL] = bp;
        nentries += POOL;
    }
    uint32_t e = bp->vpool - 1 + bp->vnext++ % POOL;
    entry->score = boards[e / PER_BOARD];
    entry->offset = (size_t)(e % PER_BOARD) * sizeof(uint64_t);
    *tag = ++ntags;   /* never 0, the void value */
    return true;
}

void verdict_page_changed(struct bpage *bp)
{
    __atomic_add_fetch(&bp->vgen, 1, __ATOMIC_SEQ_CST);
    if (!bp->vpool || __atomic_load_n(&bp->vreset, __ATOMIC_SEQ_CST)) {
        return;
    }
    __atomic_store_n(&bp->vreset, 1, __ATOMIC_SEQ_CST);
    /* The entries that exist (gate_started).  Not qemu_plugin_num_vcpus():
     * qemu counts a new vcpu before it grows the scoreboards for it, so a
     * voiding in that window wrote past the end of every board (the growth
     * waits for the running voider to leave its block first). */
    unsigned nv = gate_started();
    for (unsigned j = 0; j < nv; j++) {
        /* A pool is POOL consecutive entries of one board (verdict_new):
         * one lookup of the vcpu's entries per pool, not one per entry
         * (a store into a page of running code voids the page's pool:
         * the lookups were most of that). */
        uint64_t *p = entry_ptr(bp->vpool - 1, j);
        for (uint32_t k = 0; k < POOL; k++) {
            __atomic_store_n(&p[k], 0, __ATOMIC_SEQ_CST);
        }
    }
}

void verdict_void_all(void)
{
    for (uint32_t k = 0; k < nentries / POOL; k++) {
        verdict_page_changed(pool_page[k]);
    }
}

uint64_t verdict_page_gen(const struct bpage *bp)
{
    return __atomic_load_n(&bp->vgen, __ATOMIC_SEQ_CST);
}

void verdict_set(qemu_plugin_u64 entry, uint64_t tag, unsigned idx, struct bpage *bp,
                 uint64_t g)
{
    __atomic_store_n(&bp->vreset, 0, __ATOMIC_SEQ_CST);
    uint64_t *p = (uint64_t *)((char *)qemu_plugin_scoreboard_find(entry.score, idx) + entry.offset);
    __atomic_store_n(p, tag, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&bp->vgen, __ATOMIC_SEQ_CST) != g) {
        __atomic_store_n(p, 0, __ATOMIC_SEQ_CST);
    }
}

void verdict_vcpu_start(unsigned idx)
{
    for (unsigned b = 0; b < nboards; b++) {
        memset(qemu_plugin_scoreboard_find(boards[b], idx), 0, PER_BOARD * sizeof(uint64_t));
    }
}
