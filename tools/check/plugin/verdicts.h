/*
 * cmodx-check — per-thread verdicts of translation blocks (verdicts.c).
 *
 * A block whose every checked instruction was found settled for a thread
 * stays settled for it until a word of its backing page changes state (a
 * store, tracking that begins: model.c calls verdict_page_changed) or the
 * vcpu starts a new thread: what a thread knows only grows, and
 * maintenance and synchronisation only settle words.  The verdicts live
 * in qemu scoreboards, one 64-bit entry per vcpu, so that the block's
 * check is a conditional callback ("entry differs from the block's tag")
 * that costs an inline comparison while the verdict stands.
 *
 * Each backing page has a pool of entries, handed out in turn to the
 * blocks translated from it, each block with a tag of its own: blocks
 * that share an entry only take turns being checked (an entry holds one
 * block's tag at a time), so entries can be reused without knowing when
 * qemu drops a translation, and voiding a page costs its pool whatever
 * the number of blocks ever made from it (a JIT that rewrites one page
 * thousands of times).
 */
#ifndef CMODX_VERDICTS_H
#define CMODX_VERDICTS_H

#include <qemu-plugin.h>
#include <stdbool.h>
#include <stdint.h>

struct bpage;

/* An entry and a tag for a new block on page bp; false when no pool is
 * left (the block then keeps an unconditional check).  model_lock held. */
bool verdict_new(struct bpage *bp, qemu_plugin_u64 *entry, uint64_t *tag);

/* A word of bp changed state: every block on bp must be checked again by
 * every thread.  model_lock held. */
void verdict_page_changed(struct bpage *bp);

/* Every page changed (another process's stores and maintenance, which
 * this process learns of in bulk: xproc.c).  model_lock held. */
void verdict_void_all(void);

/* The change count of bp (read before a block's checks, compared after
 * setting the verdict: see verdict_set). */
uint64_t verdict_page_gen(const struct bpage *bp);

/* Record "settled" (the block's tag) for vcpu idx, unless the page
 * changed since its count g was read.  Lock-free. */
void verdict_set(qemu_plugin_u64 entry, uint64_t tag, unsigned idx, struct bpage *bp,
                 uint64_t g);

/* vcpu idx starts running a thread (a new one, or a reused index): its
 * verdicts are void, and its entries exist from now on (called from its
 * init callback, after qemu grew the scoreboards).  model_lock held. */
void verdict_vcpu_start(unsigned idx);

#endif
