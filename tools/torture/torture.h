/*
 * tools/torture/torture.h - state shared by the parts of cmodx-torture.
 *
 * Every generated block is a function that returns its identity: the slot
 * number in the top byte and the low 24 bits of the version below.  Full
 * versions are 64-bit counters kept by the tool; a caller reconstructs the
 * full version from the low bits relative to a counter it read, which is
 * unambiguous because a legitimate observation is never 2^23 publishes old.
 */
#ifndef CMODX_TORTURE_H
#define CMODX_TORTURE_H

#include <stddef.h>
#include <stdint.h>

#include "cmodx/cmodx.h"

#define TORTURE_MAX_SLOTS 256
#define TORTURE_MAX_THREADS 64
#define VERSION_BITS 24
#define VERSION_MASK ((1u << VERSION_BITS) - 1)
#define AGE_BUCKETS 16 /* ages 0..14, and 15 meaning "15 or more" */

/* Exit statuses (documented in --help and docs/TORTURE.md). */
enum { EXIT_INVALID = 1, EXIT_USAGE = 2, EXIT_TRAP = 3, EXIT_SETUP = 4, EXIT_UNSUPPORTED = 77 };

struct options {
    double seconds;
    int callers;
    int writers;
    const char *strategy;
    int slots;
    size_t block_min, block_max;
    size_t heap_limit;
    uint64_t seed;
    uint64_t publishes;  /* stop after this many publishes; 0 = no bound */
    int yield_one_in;    /* callers yield holding a target once in N calls */
    int offline_every;   /* callers go offline for a moment every N calls */
    int batch_one_in;    /* writers publish a batch once in N publishes */
    int sync_free_one_in; /* writers synchronize and free the old block themselves once in N */
    int writer_calls;    /* writers call each new block before publishing */
    int pace;            /* after a publish, wait for this many calls per caller */
    int quiet;
    int fail_fast;       /* stop at the first invalid observation */
    int patch;           /* PATCH_*: what a publish is (--patch) */
};

/* --patch: slot publishes (the default), redirections of patchable
 * function entries, or single-instruction patches in place. */
enum { PATCH_NONE, PATCH_ENTRIES, PATCH_INSNS };

/* run.c: user cells (--sync-free-one-in); cells_fini after the threads. */
int cells_setup(void);
void cells_fini(void);

/* options.c */
int options_parse(int argc, char **argv, struct options *o);

/* Per-slot counters.  STARTED is stored (release) before a publish of the
 * slot begins and COMPLETED after it returned; one writer owns each slot,
 * so COMPLETED <= STARTED <= COMPLETED + 1 at every instant. */
struct slot_state {
    cmodx_slot slot;
    const void *entry_target; /* --patch entries: the block the entry goes to */
    cmodx_block flip;         /* --patch insns: [0] NOP or jump, two tails */
    uint64_t started;
    uint64_t completed;
    char pad[64];
};

/* Counters a thread owns; the monitor sums them with relaxed loads. */
struct counters {
    uint64_t calls;
    uint64_t invalid;
    uint64_t publishes;
    uint64_t alloc_retries;
    uint64_t writer_calls;
    uint64_t age[AGE_BUCKETS];
    uint64_t newer; /* a version newer than the last started one at the call */
    uint64_t signals;    /* synchronisation signals handled (witness.c) */
    uint64_t online_gen; /* odd while the caller is online (witness.c) */
    char pad[64];
};

/* What a writer read before a publish, to check the signal strategy. */
struct witness {
    uint64_t gen[TORTURE_MAX_THREADS];
    uint64_t count[TORTURE_MAX_THREADS];
};

/* --sync-free-one-in: the program's own RCU-protected pointers, outside
 * any slot (run.c, "user cells"): a version is a block and its expected
 * result; writers swap a cell's version with an atomic exchange (no
 * library call, no writer lock), call cmodx_synchronize(), then free the
 * old block themselves.  Old versions are kept (a ring per writer) long
 * after, so a caller that still held one reads its expected result, not
 * freed memory. */
#define TORTURE_CELLS 2
#define CELL_RING 64
struct cell_ver {
    cmodx_xptr exec;
    uint32_t id;
};

struct torture {
    struct options opt;
    struct cell_ver *cells[TORTURE_CELLS];
    uint32_t cell_seq; /* versions made (ids) */
    int cells_lazy;    /* the strategy synchronises only through slots: no cells */
    cmodx_heap *heap;
    cmodx_domain *dom;
    struct slot_state *slots;
    struct counters thr[TORTURE_MAX_THREADS]; /* callers, then writers */
    int stop;
    int failed_setup;
    uint64_t publish_budget; /* remaining publishes when opt.publishes */
    uint64_t reused_blocks;  /* allocations at an address used before */
    uint64_t freed_blocks;   /* seen by the free hook */
    uint64_t publish_errors;
    uint64_t publish_timeouts; /* ETIMEDOUT: documented, nothing switched; not an error */
    unsigned reported; /* invalid observations printed in detail */
};

extern struct torture T;

/* User cells in use: --sync-free-one-in, without --patch, with a strategy
 * whose cross-thread step is eager (cells_setup; read from the options and
 * the setup only, never from the cells themselves, which writers swap
 * meanwhile). */
static inline int cells_on(void)
{
    return T.opt.sync_free_one_in && T.opt.patch == PATCH_NONE && !T.cells_lazy;
}

/* Counters are written by their owner only and read by the monitor:
 * relaxed atomic stores keep that race-free (ThreadSanitizer builds). */
static inline void bump(uint64_t *counter)
{
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

static inline uint32_t identity(int slot, uint64_t version)
{
    return ((uint32_t)slot << VERSION_BITS) | ((uint32_t)version & VERSION_MASK);
}

/* The full version whose low bits are LOW, at or below REF. */
static inline uint64_t full_version(uint32_t low, uint64_t ref)
{
    return ref - ((uint32_t)(ref - low) & VERSION_MASK);
}

/* history.c: a log of what happened to each block address. */
enum hist_event { EV_ALLOC = 1, EV_PUBLISH, EV_FREE, EV_UNPUBLISHED_FREE };
int history_init(size_t capacity);
/* Returns 1 if START had been used by an earlier block. */
int history_note(uintptr_t start, size_t size, enum hist_event ev, int slot, uint64_t version);
void history_note_free(uintptr_t start);
/* Print the history of the block containing ADDR to fd 2; signal-safe
 * enough for a dying process (no locks, no allocation). */
void history_print(uintptr_t addr);

/* trap.c */
int trap_install(void);

/* witness.c */
int witness_install(int sig);
void witness_thread_start(struct counters *c);
void witness_online(struct counters *c);
void witness_offline(struct counters *c);
void witness_before(struct witness *w);
void witness_after(const struct witness *w, int slot, uint64_t version, struct counters *c);

/* run.c */
void note_invalid(struct counters *c);
void *caller_main(void *arg);
void *writer_main(void *arg);
int slots_setup(void);

/* entries.c: one patchable function per slot (octal-numbered). */
extern uint32_t (*const torture_entries[TORTURE_MAX_SLOTS])(void);

#endif
