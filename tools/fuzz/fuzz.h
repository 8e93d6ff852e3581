/*
 * tools/fuzz/fuzz.h - cmodx-fuzz, the model-based API fuzzer (docs/FUZZ.md).
 *
 * Two engines share this header:
 *  - scenario.c: one thread drives a random sequence of public calls on its
 *    own heap and domain, optionally with a "pin" thread that is registered
 *    and online but never quiescent.  Everything is predictable, so the
 *    reference model gives the exact return value of each call and checks
 *    the whole state (slots, live blocks and their bytes, heap and
 *    reclamation accounting) after every step.  The libFuzzer entry point
 *    runs this engine.
 *  - storm.c: several threads on one shared domain and heap (publish, batch,
 *    retire, synchronize with and without timeouts, fork, cancellation,
 *    signal blocking, destruction in every order), with the invariants that
 *    hold whatever the interleaving, and exact accounting at checkpoints
 *    where every worker is parked offline.
 * main.c runs each episode in a child process and watches it, so that a
 * hang, a crash or a death by signal is reported with the seed and the
 * last calls of every thread.
 */
#ifndef CMODX_FUZZ_H
#define CMODX_FUZZ_H

#include <cmodx/cmodx.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the model's policy where issue 12 leaves a choice open -------------
 * The one place to adjust when the library settles on one alternative.
 * 1 = accept that outcome, 0 = reject it.  The library has settled
 * (include/cmodx/slot.h, CMODX_RETIRE_OLD): it counts the slots per block,
 * retires the block holding an interior entry point, and leaves old
 * targets outside the domain's heap alone; failing is no longer accepted. */
/* CMODX_RETIRE_OLD while another slot of the domain still targets the old
 * block: refcount (publish succeeds, the block is retired once no slot
 * targets it any more) ... */
#define FZ_POLICY_SHARED_REFCOUNT 1
/* ... or fail clearly (EINVAL or EBUSY, slot unchanged). */
#define FZ_POLICY_SHARED_FAIL 0
/* CMODX_RETIRE_OLD whose old target is an entry point inside a block:
 * retire the containing block ... */
#define FZ_POLICY_INTERIOR_RETIRE 1
/* ... or fail with EINVAL (slot unchanged). */
#define FZ_POLICY_INTERIOR_FAIL 0
/* CMODX_RETIRE_OLD whose old target is not in the domain's heap (another
 * heap, static code): nothing to retire, publish succeeds ... */
#define FZ_POLICY_FOREIGN_IGNORE 1
/* ... or fails with EINVAL. */
#define FZ_POLICY_FOREIGN_FAIL 0

/* ---- issue 12's kinds, named in every failure --------------------------- */
enum fz_kind {
    K_MODEL = 0,     /* the harness itself, or a rule of no single kind */
    K_LOCK = 1,      /* lock discipline */
    K_CANCEL = 2,    /* cancellation */
    K_BLOCK = 3,     /* block lifecycle and ownership */
    K_FORK = 4,      /* fork() */
    K_SIGNAL = 5,    /* signal strategy */
    K_FACILITY = 6,  /* a kernel facility */
    K_BOUNDS = 7,    /* bounds */
    K_LIFETIME = 8,  /* object lifetime */
    K_ERRORS = 9,    /* error codes and messages */
};
const char *fz_kind_name(int kind);

/* ---- shared trace (MAP_SHARED, survives the episode process) ------------ */
#define FZ_MAX_TRACE 24 /* 0 coordinator, 1..8 workers, 9..16 fork children, 17.. victims */
#define FZ_RING 24
#define FZ_LINE 200

struct fz_thread_trace {
    uint64_t call_start_ns; /* atomic; 0 = not inside a watched call */
    uint32_t next;          /* ring position (entries written) */
    int tid;
    char ring[FZ_RING][FZ_LINE];
};

struct fz_shared {
    uint64_t seed;
    uint32_t episode;
    int strategy;
    int failed;        /* atomic: first failure wins */
    int kind;
    char failure[3072];
    char note[256];    /* what the episode was doing, for deaths by signal */
    char ignore[1024]; /* --ignore: '|'-separated substrings of known failures */
    int ignored;       /* the episode stopped at an ignored failure */
    struct fz_thread_trace th[FZ_MAX_TRACE];
};

extern struct fz_shared *fz_sh;   /* NULL-safe: tracing is skipped */
extern __thread int fz_me;        /* this thread's trace index */
extern int fz_libfuzzer;          /* failures abort() instead of _exit */
extern int fz_verbose;            /* echo every traced call to stderr */
extern int fz_no_misuse;          /* generate no misuse of the API (--no-misuse) */

uint64_t fz_now_ns(void);
/* Start a watched call: the line is kept in the ring, and the supervisor
 * reports a hang if fz_end() does not follow within the watchdog time. */
void fz_begin(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* End it, appending the result to its line. */
void fz_end(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Record a line without watching it. */
void fz_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Report a failure of KIND and end the episode (first failure wins). */
void fz_fail(int kind, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
void fz_set_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- random numbers: xoshiro-like state, or libFuzzer's bytes ----------- */
struct fz_rng {
    uint64_t s;
    const uint8_t *data; /* libFuzzer input, or NULL */
    size_t len, pos;
};
uint64_t fz_next(struct fz_rng *r);
static inline unsigned fz_below(struct fz_rng *r, unsigned n)
{
    return n ? (unsigned)(fz_next(r) % n) : 0;
}
static inline int fz_chance(struct fz_rng *r, unsigned percent)
{
    return fz_below(r, 100) < percent;
}
static inline int fz_exhausted(const struct fz_rng *r)
{
    return r->data && r->pos >= r->len;
}
uint64_t fz_mix(uint64_t x);

/* ---- shared checks ------------------------------------------------------ */
/* Fails unless RC is one of the N values in ALLOWED; a nonzero RC must come
 * with a nonempty cmodx_last_error() message (kind 9). */
void fz_expect_rc(int kind, const char *call, int rc, const int *allowed, int n);
#define FZ_EXPECT(kind, call, rc, ...)                                                     \
    do {                                                                                   \
        const int fz_allowed_[] = {__VA_ARGS__};                                           \
        fz_expect_rc(kind, call, rc, fz_allowed_, (int)(sizeof fz_allowed_ / sizeof(int))); \
    } while (0)
/* No mapping of the process is writable and executable at once. */
void fz_check_no_wx(void);
/* Fill a block with trap instructions and put "return IDENT" at ENTRY. */
int fz_write_code(const cmodx_block *b, size_t entry, uint32_t ident);
/* The block's bytes are exactly what fz_write_code() wrote. */
int fz_code_intact(const cmodx_block *b, size_t entry, uint32_t ident);
uint32_t fz_call(const void *fn);
/* Trap/segv handlers that report the faulting thread's current call. */
void fz_install_fault_handlers(void);
/* cmodx_heap_destroy, whatever its return type: its result, or -1 when it
 * returns void. */
int fz_heap_destroy(cmodx_heap *h);
/* Available strategies: is S usable here?  0 yes, else the errno of
 * cmodx_domain_create (ENOSYS, ENOTSUP, ...). */
int fz_strategy_probe(enum cmodx_strategy s);
/* SIGRTMIN+6: the signal the fuzzer's signal-strategy domains use, so
 * that it can block it on purpose. */
int fz_sync_signal(void);

/* ---- the engines --------------------------------------------------------- */
struct fz_options {
    enum cmodx_strategy strategy;
    unsigned workers;
    unsigned steps;        /* scenario steps per scenario */
    unsigned episode_ms;   /* storm duration per episode */
    int no_side;           /* storm workers run no scenarios of their own */
};
/* Scenario engine: one deterministic sequence on a domain of STRATEGY. */
void fz_scenario(struct fz_rng *r, enum cmodx_strategy strategy, unsigned steps, int with_pin);
/* Lifecycle edges with threads of their own (lifecycle.c), run from a
 * scenario episode's own process: trampoline id reuse under held stubs,
 * cancellation inside unregister/destroy/synchronize, fork from a signal
 * handler inside a library call.  Each builds and destroys its own heap
 * and domains. */
void fz_step_trampid(struct fz_rng *r);
void fz_step_cancel(struct fz_rng *r, unsigned variant); /* 0 unregister, 1 destroy, 2 synchronize */
void fz_step_forksig(struct fz_rng *r);
/* Storm engine: one multi-threaded episode. */
void fz_storm(uint64_t seed, const struct fz_options *o);

#endif
