/* cmodx-check — state shared between the processes of one run (see xproc.c). */
#ifndef CMODX_XPROC_H
#define CMODX_XPROC_H

#include "cmodx_check.h"

/* Create the shared segment: before the guest's first fork (the first
 * thread's start).  Idempotent; without it every call below does nothing. */
void xproc_init(void);
/* Identity of a new MAP_SHARED|MAP_ANONYMOUS mapping, the same in every
 * process that inherits it and unique in the tree; local_id if there is
 * no segment. */
uint64_t xproc_shared_anon_id(uint64_t local_id);

/* Events of this process on memory that other processes may share; the
 * caller holds model_lock.  Recorded once the run has more than one
 * process (until the first fork each process's model has them all). */
void xproc_store(const struct vcpu *v, struct bpage *bp, unsigned wi, uint64_t pc);
void xproc_dc(const struct vcpu *v, uint64_t va);
void xproc_ic(const struct vcpu *v, uint64_t va);
void xproc_ic_all(const struct vcpu *v);
void xproc_dsb(const struct vcpu *v);
void xproc_csync(const struct vcpu *v);
void xproc_global_sync(void);
void xproc_cacheflush(const struct vcpu *v, uint64_t start, uint64_t end);
/* True (once) when another process changed the shared state since the
 * last call: the caller makes this process's cached verdicts stale. */
bool xproc_changed(void);
/* RISC-V: a fence.i of v that Linux may not keep (no flush context). */
void xproc_transient_fence(const struct vcpu *v);

/*
 * The fetch by v of the instruction of size bytes at va (backing page bp),
 * without model_lock held: -1 when no word of it was last stored by
 * another process (the process's own model decides), 0 when every such
 * word is settled for v, 1 when one is not (reported here).  *foreign
 * gets a bit per word of the instruction (bit 0: its first word) that
 * another process stored last: the process's own model decides the
 * others (an instruction across two words, one of each).
 */
int xproc_check_insn(struct vcpu *v, struct bpage *bp, uint64_t va, unsigned size,
                     uint32_t insn, unsigned *foreign);

#endif
