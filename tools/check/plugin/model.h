/* cmodx-check — the cache-maintenance model (see model.c). */
#ifndef CMODX_MODEL_H
#define CMODX_MODEL_H

#include "cmodx_check.h"

/* How an allowed concurrent replacement (B, BL, NOP, ...) that may still
 * run its old instruction is reported. */
enum repl_mode {
    REPL_NOTE,     /* default: a "stale-replacement" note; exit status unaffected */
    REPL_HAZARD,   /* a hazard like any other */
    REPL_OFF,      /* not reported (the first generation's exemption) */
};

struct model_cfg {
    enum arch arch;
    bool idc, dic;             /* CTR_EL0 bits the program sees */
    unsigned dline, iline;     /* cache line sizes in bytes */
    enum repl_mode repl;
};

/* Barrier kinds (AArch64 DMB/DSB option CRm & 3). */
enum bar { BAR_FULL, BAR_ST, BAR_LD };

extern struct model_cfg cfg;
extern pthread_mutex_t model_lock;
/* model_lock made anew, unlocked, of the same kind. */
void model_lock_reinit(void);
extern struct vcpu vcpus[MAX_VCPUS];
extern int label_tid[65536];
extern int64_t guest_base;
extern bool guest_base_known;
/* Copy n bytes of guest memory at va into dst; false, with no fault, when
 * any of them is not mapped readable (now: another thread may be
 * unmapping it).  Takes no lock. */
bool guest_read(uint64_t va, void *dst, size_t n);

/*
 * Bumped (under model_lock) by every change of what a fetch check reads
 * but the executing thread's own knowledge: stores into tracked pages,
 * cleans, invalidates, flushes, tracking that begins, a thread (re)started
 * on a vcpu.  What a thread knows only grows, so a block whose every
 * instruction was settled for a thread at generation g stays settled for
 * it while model_gen == g (plugin.c, check_tb).
 */
extern uint64_t model_gen;

/* All model_* functions expect model_lock held, except where noted. */
uint64_t seq_next(void);
struct bpage *bpage_get(uint64_t va, bool create);
struct bpage *bpage_by_key(const uint64_t k[3], bool create);
void model_file_write(struct vcpu *v, uint64_t dev, uint64_t ino, uint64_t off, uint64_t len);
void model_store(struct vcpu *v, uint64_t va, unsigned size, const uint8_t *bytes, uint64_t pc);
/* Writes recorded by model_store (under model_lock): one per store
 * instruction, per page of a copy instruction's or a system call's write;
 * the summary's "code writes tracked". */
extern uint64_t model_writes;
void model_dc(struct vcpu *v, uint64_t va);
void model_ic(struct vcpu *v, uint64_t va);
void model_ic_all(struct vcpu *v);
void model_dsb(struct vcpu *v);
void model_barrier(struct vcpu *v, bool dsb, enum bar kind);
/* Another process may have stored or maintained shared code (xproc.c):
 * if so, every block is checked anew.  Called where a thread can learn
 * of it: its context synchronisations, system call returns (on RISC-V
 * too, where they order nothing), global syncs and fence.i. */
void model_foreign_news(void);
void model_isb(struct vcpu *v);
void model_csync(struct vcpu *v);
void model_global_sync(void);
void model_cacheflush(struct vcpu *v, uint64_t start, uint64_t end);
void model_local_flush(struct vcpu *v);
void model_made_exec(uint64_t va);
void model_touch(uint64_t va);

/* A new thread (its parent's state reaches it through the kernel). */
void model_thread_start(struct vcpu *v);
/* A thread ends: what it ordered reaches whoever joins it. */
void model_thread_exit(struct vcpu *v);
/* v enters a system call: what it ordered reaches the kernel (and, through
 * it, the threads that return from later calls or take signals). */
void model_syscall_entry(struct vcpu *v);

/*
 * Lock-free, called by v's own thread only: a load of [va, va+size) that
 * read value (its reads-from edge joins the store's knowledge into v;
 * value tells which store it read; rmw: the load of an atomic
 * read-modify-write), and the knowledge
 * a store by v carries to its readers (release: a store-release).
 */
bool model_load_quick(struct vcpu *v, uint64_t va, unsigned size);
/* Direct reads of guest memory (model.c): set up once, when the process
 * is about to get a second thread (later calls return at once); stopped by a
 * system call that may unmap or protect guest memory, from its entry
 * callback (waits for the reads in progress of the nvcpu first vcpus)
 * until its return. */
void model_reads_init(void);
void model_reads_stop(const struct vcpu *self, unsigned nvcpu);
void model_reads_resume(void);
/* Empty the shadow of memory (the last live thread, all others gone). */
void model_shadow_clear(void);
/* BYTES: the SIZE (at most 16) bytes the load read, in a buffer of 24. */
void model_load(struct vcpu *v, uint64_t va, unsigned size, const uint8_t *bytes, bool rmw);
void model_store_shadow(struct vcpu *v, uint64_t va, unsigned size, const uint8_t *bytes,
                        bool release);
/*
 * Lock-free, called by v's own thread (plugin.c): wait until the store
 * instructions other threads have begun have run their memory callbacks
 * (so the shadow slots they write are published).  ATOMIC_LOAD: the
 * caller is the load of an atomic read-modify-write, its own instruction
 * marked in flight; it stops waiting for another thread's atomic when
 * that thread's chain of waits comes back to it (no cycle of waits).
 * [LO, HI): the virtual addresses of the bytes read; a store that has
 * recorded that it writes elsewhere is not waited for (plugin.c,
 * flight_record).  The record is by virtual address, so a caller whose
 * bytes may have been stored through another view of the same memory
 * passes 0, UINT64_MAX (every store in flight waited for).  WANT (may be
 * NULL): the HI - LO bytes read at LO; a store that has recorded other
 * bytes for all of them is not waited for either.  DONE (may be
 * NULL): the wait ends as soon as DONE(ARG) holds.  Never called with
 * model_lock held.
 */
void model_wait_stores(const struct vcpu *v, bool atomic_load, uint64_t lo, uint64_t hi,
                       const uint8_t *want, bool (*done)(const void *), const void *arg);
/* The calling host thread runs vcpu v (for calls made without a vcpu). */
void model_set_self(struct vcpu *v);

/* Hazard of executing the word at wi by v, or K_COUNT if none. */
enum kind model_check_word(struct vcpu *v, struct bpage *bp, unsigned wi);
/* The same, as if no store had been an allowed B/BL/NOP replacement. */
enum kind model_check_word_ignoring_exempt(struct vcpu *v, struct bpage *bp, unsigned wi);
/* v fetched the word: its store is now ordered before v's later events. */
void model_fetched(struct vcpu *v, struct bpage *bp, unsigned wi);

/* Lock-free: false when the word is an allowed replacement not yet noted
 * for v (its fetch needs the slow check). */
bool model_fast_ok(const struct vcpu *v, const struct bpage *bp, unsigned wi);
/* The stale-replacement note for w was already given to v (else records it). */
bool model_note_seen(struct vcpu *v, const struct word *w);

/* Lock-free: true when v already knows the word's store (no join needed). */
bool model_fetch_joined(const struct vcpu *v, const struct bpage *bp, unsigned wi);

/* Lock-free: true when v's fetch of the word passed its check (and was
 * joined: model_fetched) while the word held the store it holds now. */
bool model_settled_seen(const struct vcpu *v, const struct word *w);
/* Record that (under model_lock, after the check and model_fetched). */
void model_settled_note(struct vcpu *v, const struct word *w);

/* Lock-free: true when no word of bp can be a hazard for v. */
bool model_page_quiet(struct vcpu *v, struct bpage *bp);

#endif
