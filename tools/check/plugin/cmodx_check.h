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
#define MAX_VCPUS 1024

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
    K_MAINT_FAULT,        /* DC/IC on memory the program cannot read: a fault on hardware */
    K_FENCE_I_MIGRATION,  /* RISC-V: own fence.i, but Linux may have moved the thread */
    K_COUNT
};

struct word {
    uint8_t stage;       /* enum stage */
    uint8_t exempt;      /* only allowed B/BL/NOP/... replacements since done */
    uint8_t ic_early;    /* an IC hit it before its clean completed */
    uint8_t old_known;   /* bpage.shadow holds the value before the stores */
    uint16_t writer;     /* thread label of the last store */
    uint16_t owner;      /* thread whose DSB completes the pending step */
    uint64_t store_pc;   /* 0 = unknown (written before tracking began) */
    uint64_t seq;        /* when it was stored (RISC-V) or completed (DONE) */
};

/* One page of backing memory; shared by every virtual alias of it. */
struct bpage {
    uint64_t key_a, key_b, key_c;  /* (dev, inode, page) or (0, anon id, page) */
    struct bpage *next;            /* hash chain */
    struct bpage *all_next;        /* list of pages with words, for IC IALLU */
    struct word *words;            /* NULL until something is written */
    uint8_t *shadow;               /* last known contents (old values) */
    int pending;                   /* words in WRITTEN..INVALIDATED, not exempt */
    uint64_t max_done;             /* newest seq an executor must be synced past */
};

struct vcpu {
    bool live;
    uint16_t label;          /* 1 = first thread, in order of creation */
    int tid;                 /* host tid = guest tid under qemu-user */
    uint64_t sync_seq;       /* last context synchronisation / fence.i */
    uint64_t sc_args[6];     /* arguments of the syscall in progress */
    int64_t sc_num;
    /* pages with a step waiting for this thread's DSB */
    struct bpage **wait;
    size_t nwait, capwait;
};

#endif
