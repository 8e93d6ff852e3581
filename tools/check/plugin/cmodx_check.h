/*
 * cmodx-check — shared declarations of the QEMU TCG plugin.
 *
 * The plugin models, per 4-byte word of memory that holds (or may come to
 * hold) code, how far the architecture's "make new instructions visible"
 * sequence has progressed, and checks every instruction executed from such
 * memory against that state.  See docs/CHECKER.md for the model.
 */
#ifndef CMODX_CHECK_H
#define CMODX_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#define PAGE_SHIFT 12
#define PAGE_SIZE (1u << PAGE_SHIFT)
#define WORDS_PER_PAGE (PAGE_SIZE / 4)
/*
 * Per-thread records (struct vcpu and the per-thread arrays): MAX_VCPUS
 * threads alive at once.  qemu-user numbers a new thread one past the
 * highest live one, so a chain of threads reaches high indexes with few
 * alive: index i < MAX_VCPUS - 1 has record i; a higher index (up to
 * MAX_VCPU_INDEX) is given, when its thread starts, a record no live
 * thread holds (plugin.c, vcpu_init), and frees it when it exits.  Such
 * a record is never wanted by a low index meanwhile: qemu gives a new
 * thread a low index only when every live thread's is lower.  Only when
 * no record is free does a thread share the last one (own_record).
 */
#define MAX_VCPUS 1024
#define MAX_VCPU_INDEX (1u << 20)
extern uint16_t vcpu_rec_high[MAX_VCPU_INDEX];   /* index -> record + 1, 0: none */
static inline unsigned vcpu_slot(unsigned idx)
{
    if (idx < MAX_VCPUS - 1) {
        return idx;
    }
    unsigned r = idx < MAX_VCPU_INDEX ? __atomic_load_n(&vcpu_rec_high[idx], __ATOMIC_RELAXED) : 0;
    return r ? r - 1 : MAX_VCPUS - 1;
}

enum arch { ARCH_AARCH64, ARCH_ARM, ARCH_RISCV64 };

/*
 * Progress of one written word through the writer's sequence (AArch64
 * names; ARMv7 uses WRITTEN -> DONE through cacheflush(2), RISC-V keeps
 * WRITTEN and compares sequence numbers with the harts' fence.i).
 */
enum stage {
    ST_NONE = 0,     /* never written since tracking began */
    ST_WRITTEN,      /* stored, not cleaned to the PoU */
    ST_CLEANED,      /* DC CVAU issued (or IDC=1), no DSB by the cleaner yet */
    ST_CLEAN_DONE,   /* the clean completed (DSB), not invalidated */
    ST_INVALIDATED,  /* IC IVAU/IALLU issued, no DSB by the invalidator yet */
    ST_DONE,         /* maintenance complete at word.done_seq */
};

/* Kinds of report. */
enum kind {
    K_NOT_CLEANED,
    K_CLEAN_NOT_COMPLETED,
    K_NOT_INVALIDATED,
    K_INVAL_NOT_COMPLETED,
    K_NO_CONTEXT_SYNC,
    K_NO_CACHEFLUSH,      /* ARMv7 */
    K_NO_FENCE_I,         /* RISC-V */
    K_LOCAL_FLUSH_ONLY,   /* RISC-V */
    K_STALE_TRANSLATION,  /* the emulator's own stale code */
    K_STALE_REPLACEMENT,  /* AArch64: an allowed B/BL/NOP/... replacement may still run old */
    K_MAINT_FAULT,        /* DC/IC on memory the program cannot read: a fault on hardware */
    K_FENCE_I_MIGRATION,  /* RISC-V: own fence.i, but Linux may have moved the thread */
    K_COUNT
};

/*
 * AArch64 happens-before (see model.c): an event of the sequence is named by
 * the thread that made it (its "actor" index, 0 = before tracking began) and
 * its number in that thread.  A point of the program (a thread's next load,
 * its next fetch, a store it made) knows, per actor, the newest store,
 * clean and invalidate of that actor ordered before it.
 */
#define MAX_ACTORS 256
struct vce {
    uint32_t w, dc, ic;   /* newest store / DC CVAU / completed IC IVAU ordered before */
};
/* A qualifying clean or invalidate of a word: (actor, event number). */
struct qev {
    uint16_t a;
    uint32_t n;
};
#define NQ 2

struct word {
    uint8_t stage;       /* enum stage (AArch64: NONE or WRITTEN) */
    uint8_t exempt;      /* only allowed B/BL/NOP/... replacements since done */
    uint8_t ic_early;    /* an IC reached it after the store, not ordered after a clean */
    uint8_t old_lost;    /* bpage.shadow does not hold the value before the stores */
    uint16_t writer;     /* thread label of the last store */
    uint16_t owner;      /* ARMv7/RISC-V: unused by the happens-before model */
    uint16_t actor;      /* AArch64: actor of the last store (0: before tracking) */
    uint8_t ndc, nic;    /* qualifying cleans / invalidates recorded */
    uint8_t pk;          /* AArch64: counted in bpage.pending (1), pending_x (2) */
    uint32_t n;          /* AArch64: the store's event number in its actor */
    uint32_t snap;       /* AArch64: what was ordered before the store (snapshot id) */
    uint64_t store_pc;   /* 0 = unknown (written before tracking began) */
    uint64_t seq;        /* when it was stored (RISC-V) or completed (ARMv7 DONE) */
    struct qev dcq[NQ];  /* AArch64: DC CVAU ordered after the store */
    struct qev icq[NQ];  /* AArch64: IC IVAU ordered after such a clean (IDC=1: after the store) */
};

/* One page of backing memory; shared by every virtual alias of it. */
struct bpage {
    uint64_t key_a, key_b, key_c;  /* (dev, inode, page) or (0, anon id, page) */
    struct bpage *next;            /* hash chain */
    struct bpage *all_next;        /* list of pages with words, for IC IALLU */
    struct word *words;            /* NULL until something is written */
    uint8_t *shadow;               /* last known contents (old values) */
    int pending;                   /* words in WRITTEN..INVALIDATED, not exempt
                                    * (AArch64: written words with no qualifying
                                    * invalidate yet) */
    uint64_t max_done;             /* newest seq an executor must be synced past */
    int pending_x;                 /* AArch64: unsettled allowed replacements */
    /* AArch64 summary for the lock-free check: every written word of the
     * page is settled for a thread whose fetch knowledge has event req_n of
     * actor req_a in class req_cls (0xffff: several actors, no summary). */
    uint16_t req_a;
    uint8_t req_cls;
    uint32_t req_n;
    /* Verdicts of the blocks with checks on this page (verdicts.c): the
     * first entry of its pool + 1 (0: none yet), the next one to hand
     * out, the page's change count, and "all of them are void". */
    uint32_t vpool, vnext;
    uint64_t vgen;
    uint8_t vreset;
};

struct vcpu {
    bool live;
    unsigned idx;            /* qemu's index of the thread holding it (vcpu_slot) */
    uint16_t label;          /* 1 = first thread, in order of creation */
    int tid;                 /* host tid = guest tid under qemu-user */
    uint32_t waiting_for;    /* plugin.c: 1 + the thread an atomic's load waits for, 0 none */
    uint64_t wait_ticket;    /* plugin.c: when that wait was declared (a global count) */
    uint64_t wait_count;     /* plugin.c: the count of the store it waits for */
    uint64_t access_stamp;   /* plugin.c: when its atomic's access was (a global count) */
    uint64_t want_lo, want_hi, want;   /* plugin.c: the bytes that load read */
    bool want_known;         /* plugin.c: want holds them */
    uint64_t sync_seq;       /* last context synchronisation / fence.i */
    uint64_t sc_args[6];     /* arguments of the syscall in progress */
    int64_t sc_num;
    /* AArch64 happens-before state (model.c); written only by the thread
     * itself, under model_lock when it changes. */
    uint16_t actor;          /* 0 until the thread stores code or maintains */
    uint32_t dsb_full, dsb_st, dmb_full, dmb_st;   /* own event number at its last barrier */
    struct vce *acq;         /* ordered before its next load, store, DC, IC, DSB */
    struct vce *fvc;         /* ordered before its next instruction fetch */
    struct vce *pend;        /* ordered before its stores (from-reads), not yet
                              * before its other events: its next DSB does that */
    bool pend_any;
    uint32_t last_joined;    /* last snapshot joined into acq */
    /* Snapshots already joined into acq, by id % JOINED_CACHE
     * (model_load_quick: acq only grows while the thread lives, and ids
     * are never reused), and from-reads notes joined into pend
     * (model_store_shadow).  Eight entries were too few: in `test_slots
     * signal` the callers read the slots, their flags and the domain's
     * counters, stored under more live snapshots than that, and 38% of
     * their loads missed and walked a snapshot (snap_covered) only to
     * find it joined; with 64, 3%.  (Its run time did not move: the
     * callers loop until the writer is done, and the writer's costs are
     * elsewhere; docs/CHECKER.md, Overhead.) */
#define JOINED_CACHE 64
    uint32_t joined[JOINED_CACHE];
    uint32_t fr_joined[JOINED_CACHE];
    uint32_t reading;        /* model.c granule_read: reading guest memory now */
    uint64_t reads_gen_seen; /* model.c granule_read: reads_gen at its last read */
    /* plugin.c: instruction checks made on this record (the summary's
     * count, count_checked). */
    uint64_t checked;
    bool stopping_reads;     /* syscall.c: its system call stopped them */
    /* The shadow leaves of the 1 MiB regions this thread loaded or stored
     * in last, by region % 8 (model.c, sh_slot; leaves are never freed:
     * its stack's, the heap's, the data's), and their keys + 1. */
    uint64_t sh_key[8];
    void *sh_leaf[8];
    uint32_t rel, rel_l;     /* snapshot of a plain / release store now (0: recompute) */
    uint32_t rel_last, rel_l_last;   /* the last ones made, to reuse when equal */
    uint64_t gsync_seen;     /* membarrier broadcast merged */
#define NOTE_CACHE 64
    const struct word *note_w[NOTE_CACHE];   /* stale-replacement notes given */
    uint32_t note_n[NOTE_CACHE];
    uint16_t note_a[NOTE_CACHE];
    /* Words whose fetch passed its check for this thread, with the store
     * they held (model_settled_seen), by word address % SETTLED_CACHE. */
#define SETTLED_CACHE 256
    const struct word *settled_w[SETTLED_CACHE];
    uint32_t settled_n[SETTLED_CACHE];
    uint16_t settled_a[SETTLED_CACHE];
    uint8_t settled_s[SETTLED_CACHE];
};

#endif
