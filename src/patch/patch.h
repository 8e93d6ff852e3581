/*
 * src/patch/patch.h - the patch layer's own interface: the in-place patch
 * protocol (patch.c), shared by single-instruction patches and function
 * entries (entry.c).
 */
#ifndef CMODX_SRC_PATCH_PATCH_H
#define CMODX_SRC_PATCH_PATCH_H

#include <stddef.h>
#include <stdint.h>

#include "arch/patch.h"
#include "thread/thread.h"

/* One instruction to replace. */
struct patch_site {
    uintptr_t x;                  /* execute address */
    void *w;                      /* its write view (patch_resolve) */
    uint8_t old[ARCH_PATCH_MAX];  /* what is there now */
    uint8_t insn[ARCH_PATCH_MAX]; /* what goes there */
};

/* Under patch_lock(): D may patch in place (its strategy synchronises
 * every thread at once, the architecture has a method).  0, ENOTSUP or
 * EINVAL with cmodx_fail() called; WHO names the public function. */
int patch_usable(cmodx_domain *d, const char *who);

/* Could [X, X + LEN) be patched by D: aligned, and inside D's heap or
 * program text (text_check)?  Reads no byte of it and moves nothing:
 * callers check here before they read the target.  0 or EINVAL with
 * cmodx_fail() called. */
int patch_check(cmodx_domain *d, uintptr_t x, size_t len);

/* The write view of [X, X + LEN) in *W: inside D's heap, or the program's
 * own text (moved onto a memfd the first time; that needs D's
 * cross-thread step).  Caller holds D's writer lock.  0 or an errno with
 * cmodx_fail() called. */
int patch_resolve(cmodx_domain *d, uintptr_t x, size_t len, void **w);

/*
 * Replace every S[i].old by S[i].insn (already checked with
 * arch_patch_allowed), by the architecture's method, with the cross-thread
 * synchronisation of D's strategy.  Caller holds D's writer lock (taken
 * with writer_enter) and the patch lock.  On a synchronisation error the
 * old instructions are written back (best effort, reported) and nothing
 * is left half-patched: 0 or an errno with cmodx_fail() called.
 */
int patch_apply_locked(cmodx_domain *d, struct patch_site *s, size_t n);

/* entry.c, for cmodx_domain_destroy: if a function entry is redirected
 * through D, 1 (D must stay); else 0, and D's restored entries no longer
 * belong to it (a later redirection by any domain adopts them). */
int entries_release(cmodx_domain *d);

/* entry.c, for cmodx_domain_destroy: how many of D's initialised slots
 * are the function entries' own (the library's: they do not keep D
 * alive).  Under D's writer lock (takes the patch lock). */
size_t entries_slots(cmodx_domain *d);

/* entry.c, under the patch lock: EBUSY with cmodx_fail() called (WHO
 * names the public function) if [X, X + LEN) overlaps the patch point of
 * a function entry that a domain redirected: a single-instruction patch
 * there would make the record disagree with the text for good (its
 * restore, redirect and destroy all EBUSY); else 0.  A restored entry's
 * NOP may be patched: a later redirection then reports EBUSY "changed by
 * someone else" and nothing is wedged. */
int entries_claimed(uintptr_t x, size_t len, const char *who);

/* The process's patch lock: entry records and trap sites.  Taken inside
 * a domain's writer lock, outside heap locks (fork order:
 * FORK_STAGE_PATCH). */
void patch_lock(void);
void patch_unlock(void);

#endif
