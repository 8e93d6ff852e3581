/*
 * cmodx-check — per-thread verdicts of translation blocks (verdicts.c).
 *
 * A block whose every checked instruction was found settled for a thread
 * stays settled for it until a word of one of the block's backing pages
 * changes state (a store, tracking that begins: model.c calls
 * verdict_page_changed) or the vcpu starts a new thread: what a thread
 * knows only grows, and maintenance and synchronisation only settle words.
 * The verdicts live in qemu scoreboards, one 64-bit entry per block and
 * vcpu, so that the block's check is a conditional callback ("entry is
 * 0") that costs an inline comparison while the verdict stands.
 */
#ifndef CMODX_VERDICTS_H
#define CMODX_VERDICTS_H

#include <qemu-plugin.h>
#include <stdbool.h>
#include <stdint.h>

struct bpage;

/* A verdict entry for a new block on pages bp[0..n) (n <= 2); false when
 * the scoreboards are full (the block then keeps an unconditional check).
 * model_lock held. */
bool verdict_new(struct bpage *const *bp, unsigned n, qemu_plugin_u64 *entry);

/* A word of bp changed state: every block on bp must be checked again by
 * every thread.  model_lock held. */
void verdict_page_changed(struct bpage *bp);

/* The change count of bp (read before a block's checks, compared after
 * setting the verdict: see verdict_set). */
uint64_t verdict_page_gen(const struct bpage *bp);

/* Record "settled" for vcpu idx, unless one of the pages changed since
 * their counts g[] were read.  Lock-free. */
void verdict_set(qemu_plugin_u64 entry, unsigned idx, struct bpage *const *bp, unsigned n,
                 const uint64_t *g);

/* vcpu idx starts running a thread (a new one, or a reused index): its
 * verdicts are void. */
void verdict_vcpu_start(unsigned idx);

#endif
