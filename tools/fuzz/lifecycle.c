/*
 * tools/fuzz/lifecycle.c - the scenario engine's lifecycle edges that need
 * threads of their own (docs/FUZZ.md, the scenario engine's "lifecycle
 * edges"; one per scenario episode, chosen in scenario.c):
 *
 *  - fz_step_trampid: slot fini/init churn in a trampoline domain whose ids
 *    are all in use, while a caller holds the stubs of finished slots.  A
 *    finished id is reused only after a grace period begun after the fini
 *    (include/cmodx/slot.h, cmodx_slot_fini): the init that would need it
 *    while the caller is online and not quiescent must time out
 *    (ETIMEDOUT), the held stub must run the finished slot's LAST target,
 *    and once the caller went offline the inits get exactly the finished
 *    ids back.
 *  - fz_step_cancel: pthread_cancel of a thread inside
 *    cmodx_thread_unregister, cmodx_domain_destroy or cmodx_synchronize
 *    while it waits for a lock or a grace period.  The call is not a
 *    cancellation point with a lock held: it completes (its result is the
 *    model's), the thread is cancelled at its next cancellation point, and
 *    the following publish, synchronize and destroys all complete.  The
 *    thread waiting inside unregister or destroy is parked (offline in
 *    every domain): another domain's grace period completes meanwhile.
 *  - fz_step_forksig: a signal handler forks while its thread is inside
 *    cmodx_synchronize; the child's library is unusable (ENOTRECOVERABLE
 *    from synchronize, block_alloc, heap_create, slot_publish,
 *    block_write: include/cmodx/error.h), the parent's code is unchanged
 *    and the parent's call completes.  A fork from a handler outside the library
 *    gives an ordinary child.
 *
 * Each builds its own heap and domains, so that the scenario's model is
 * untouched; each waits only for what the model says must happen, with
 * the supervisor's watchdog (and a bound below it) turning a hang into a
 * failure with the seed.
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* Trace indices of the helper threads (fuzz.h: 17.. victims; the
 * scenario's pin is the last). */
#define T_CALLER 17
#define T_VICTIM 18
#define T_WRITER 19
#define T_SILENT 20
#define T_HOLDER 21

/* A bound below the supervisor's default watchdog (60 s): a wait that
 * the model says must end, and does not, fails with its own message. */
#define LC_BOUND_NS (45ull * 1000000000ull)

#if defined(__SANITIZE_THREAD__)
#define LC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LC_TSAN 1
#endif
#endif
#ifndef LC_TSAN
#define LC_TSAN 0
#endif

static void lc_wait_flag(const int *flag, int value, int kind, const char *what)
{
    uint64_t t0 = fz_now_ns();
    while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) < value) {
        if (fz_now_ns() - t0 > LC_BOUND_NS)
            fz_fail(kind, "%s did not happen within 45 s (a call does not return)", what);
        usleep(200);
    }
}

static uint32_t lc_len(void)
{
    return (uint32_t)cmodx_emit_return_u32_size();
}

/* Blocks of a private heap, each "return BASE + i", made visible: they
 * are slot_init's initial targets, which every thread may run at once
 * (slot.h: "made visible"; a publish would do it, an init does not). */
static void lc_blocks(cmodx_heap *h, cmodx_block *b, int n, uint32_t base)
{
    for (int i = 0; i < n; i++) {
        int err = cmodx_block_alloc(h, 64, &b[i]);
        FZ_EXPECT(K_ERRORS, "cmodx_block_alloc(64) on a fresh heap", err, 0);
        err = fz_write_code(&b[i], 0, base + (uint32_t)i);
        FZ_EXPECT(K_ERRORS, "cmodx_block_write of a fresh block", err, 0);
        err = cmodx_make_visible(b[i].exec, b[i].size);
        FZ_EXPECT(K_ERRORS, "cmodx_make_visible of a fresh block", err, 0);
    }
}

/* A private heap with N visible blocks (lc_blocks) and an epoch domain
 * on it: the setting of the cancel and forksig steps (STEP names it in a
 * failure report). */
static void lc_epoch_domain(const char *step, cmodx_heap **h, cmodx_block *b, int n,
                            uint32_t base, cmodx_domain **e)
{
    char what[96];
    int err = cmodx_heap_create(NULL, h);
    snprintf(what, sizeof what, "cmodx_heap_create (%s)", step);
    FZ_EXPECT(K_ERRORS, what, err, 0);
    lc_blocks(*h, b, n, base);
    struct cmodx_domain_config c = {.strategy = CMODX_SYNC_EPOCH, .heap = *h};
    err = cmodx_domain_create(&c, e);
    snprintf(what, sizeof what, "cmodx_domain_create(epoch) (%s)", step);
    FZ_EXPECT(K_ERRORS, what, err, 0);
}

static void lc_join(pthread_t t, const char *who, void **ret)
{
    fz_begin("pthread_join(%s)", who);
    pthread_join(t, ret);
    fz_end("-> joined");
}

/* The holder: a helper thread registered in domain E, online and never
 * quiescent until released, so that E's grace periods wait for it (the
 * cancel step's cmodx_synchronize victim, the forksig step's syncer).
 * lc_holder_start returns once it is registered; lc_holder_release lets
 * it go (quiescent, then unregistered: 0 expected); lc_holder_join waits
 * for it. */
struct lc_holder {
    cmodx_domain *e;
    const char *who; /* in messages: "the WHO's registration" */
    pthread_t th;
    int ready, release; /* atomic */
};

static void *lc_holder_main(void *arg)
{
    struct lc_holder *h = arg;
    fz_me = T_HOLDER;
    cmodx_thread *self = NULL;
    if (cmodx_thread_register(h->e, &self))
        fz_fail(K_ERRORS, "%s: register in E -> %s", h->who, cmodx_last_error());
    __atomic_store_n(&h->ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&h->release, __ATOMIC_ACQUIRE))
        usleep(200); /* online, never quiescent */
    cmodx_quiescent(self);
    int err = cmodx_thread_unregister(h->e);
    char call[96];
    snprintf(call, sizeof call, "cmodx_thread_unregister (%s)", h->who);
    FZ_EXPECT(K_ERRORS, call, err, 0);
    return NULL;
}

static void lc_holder_start(struct lc_holder *h, cmodx_domain *e, const char *who)
{
    h->e = e;
    h->who = who;
    h->ready = h->release = 0;
    pthread_create(&h->th, NULL, lc_holder_main, h);
    char what[96];
    snprintf(what, sizeof what, "the %s's registration", who);
    lc_wait_flag(&h->ready, 1, K_MODEL, what);
}

static void lc_holder_release(struct lc_holder *h)
{
    __atomic_store_n(&h->release, 1, __ATOMIC_RELEASE);
}

static void lc_holder_join(struct lc_holder *h)
{
    char who[96];
    snprintf(who, sizeof who, "the %s", h->who);
    lc_join(h->th, who, NULL);
}

/* ==== trampoline ids ======================================================= */

#define TR_HELD 4
#define TR_BASE 0x7a000000u
#define TR_FILL 4                 /* blocks 0..3: the filler slots' targets */
#define TR_LAST (TR_FILL)         /* blocks 4..7: the held slots' last targets */
#define TR_NEW (TR_FILL + TR_HELD) /* block 8: the new owners' target */
#define TR_NBLK (TR_NEW + 1)

static struct {
    cmodx_domain *d;
    cmodx_slot *sl;
    int cmd;  /* atomic: what the caller does next */
    int done; /* atomic: the last command it finished */
    cmodx_thread *self;
    int nheld;
    int held_idx[TR_HELD];
    const void *held[TR_HELD];
    uint32_t got[TR_HELD];
    cmodx_slot *check[TR_HELD + 2]; /* slots the caller calls through (cmd 4) */
    int ncheck;
    uint32_t check_got[TR_HELD + 2];
} tr;

static void *tr_caller(void *arg)
{
    (void)arg;
    fz_me = T_CALLER;
    int seen = 0;
    for (;;) {
        int c;
        while ((c = __atomic_load_n(&tr.cmd, __ATOMIC_ACQUIRE)) == seen)
            usleep(100);
        seen = c;
        switch (c) {
        case 1: /* register, hold the stubs of the chosen slots */
            fz_begin("trampid caller: cmodx_thread_register, hold %d stub(s)", tr.nheld);
            if (cmodx_thread_register(tr.d, &tr.self))
                fz_fail(K_ERRORS, "trampid: cmodx_thread_register -> %s", cmodx_last_error());
            /* Never called through yet: each copy is its slot's stub. */
            for (int j = 0; j < tr.nheld; j++)
                tr.held[j] = cmodx_slot_target_trampoline(&tr.sl[tr.held_idx[j]], tr.self);
            fz_end("-> held");
            break;
        case 2: /* call the held stubs (their slots are finished now) */
            fz_begin("trampid caller: call %d held stub(s) of finished slots", tr.nheld);
            for (int j = 0; j < tr.nheld; j++)
                tr.got[j] = fz_call(tr.held[j]);
            fz_end("-> called");
            break;
        case 3:
            fz_begin("trampid caller: cmodx_thread_offline");
            cmodx_thread_offline(tr.self);
            fz_end("-> offline");
            break;
        case 4:
            fz_begin("trampid caller: online, call %d slot(s)", tr.ncheck);
            cmodx_thread_online(tr.self);
            for (int j = 0; j < tr.ncheck; j++)
                tr.check_got[j] = fz_call(cmodx_slot_target_trampoline(tr.check[j], tr.self));
            cmodx_quiescent(tr.self);
            fz_end("-> called");
            break;
        default:
            fz_begin("trampid caller: cmodx_thread_unregister");
            int err = cmodx_thread_unregister(tr.d);
            fz_end("-> %d", err);
            FZ_EXPECT(K_ERRORS, "cmodx_thread_unregister (trampid caller)", err, 0);
            __atomic_store_n(&tr.done, c, __ATOMIC_RELEASE);
            return NULL;
        }
        __atomic_store_n(&tr.done, c, __ATOMIC_RELEASE);
    }
}

static void tr_do(int c, const char *what)
{
    __atomic_store_n(&tr.cmd, c, __ATOMIC_RELEASE);
    lc_wait_flag(&tr.done, c, K_LIFETIME, what);
}

void fz_step_trampid(struct fz_rng *r)
{
    memset(&tr, 0, sizeof tr);
    cmodx_heap *h = NULL;
    int err = cmodx_heap_create(NULL, &h);
    FZ_EXPECT(K_ERRORS, "cmodx_heap_create (trampid)", err, 0);
    cmodx_block blk[TR_NBLK];
    lc_blocks(h, blk, TR_NBLK, TR_BASE);
    /* max_trampoline_slots 1: the capacity is one copy page, so the ids
     * run out after CMODX_TRAMPOLINE_PAGE slots and every later init needs
     * a finished one. */
    struct cmodx_domain_config c = {.strategy = CMODX_SYNC_TRAMPOLINE, .max_trampoline_slots = 1,
                                    .grace_timeout_ms = 20};
    fz_begin("trampid: cmodx_domain_create(trampoline, 1 slot, grace timeout 20 ms)");
    err = cmodx_domain_create(&c, &tr.d);
    fz_end("-> %d", err);
    FZ_EXPECT(K_ERRORS, "cmodx_domain_create(trampoline) for the id churn", err, 0);
    size_t cap = CMODX_TRAMPOLINE_PAGE * 2;
    tr.sl = calloc(cap, sizeof *tr.sl);
    uint32_t *last = calloc(cap, sizeof *last); /* each slot's last target ident */
    int *live = calloc(cap, sizeof *live);
    size_t n = 0;
    fz_begin("trampid: cmodx_slot_init until the ids run out");
    while (n < cap && (err = cmodx_slot_init(tr.d, &tr.sl[n],
                                             blk[n % TR_FILL].exec)) == 0) {
        last[n] = TR_BASE + (uint32_t)(n % TR_FILL);
        live[n] = 1;
        n++;
    }
    fz_end("-> %zu slots, then %d", n, err);
    if (n < TR_HELD + 2 || n == cap)
        fz_fail(K_BOUNDS, "a trampoline domain with max_trampoline_slots 1 took %zu slots", n);
    FZ_EXPECT(K_ERRORS, "cmodx_slot_init past the trampoline capacity (no id finished)", err,
              ENOMEM);

    /* The caller registers and holds the stubs of distinct slots. */
    tr.nheld = 1 + (int)fz_below(r, TR_HELD);
    for (int j = 0; j < tr.nheld; j++) {
        int i;
        int dup;
        do {
            i = (int)fz_below(r, (unsigned)n);
            dup = 0;
            for (int k = 0; k < j; k++)
                dup |= tr.held_idx[k] == i;
        } while (dup);
        tr.held_idx[j] = i;
    }
    pthread_t th;
    pthread_create(&th, NULL, tr_caller, NULL);
    tr_do(1, "the trampid caller's registration");
    /* Republished while held (or not): the stub runs the slot's LAST target. */
    for (int j = 0; j < tr.nheld; j++) {
        if (!fz_chance(r, 60))
            continue;
        int i = tr.held_idx[j];
        fz_begin("trampid: cmodx_slot_publish(slot %d -> block %d) [stub held]", i, TR_LAST + j);
        err = cmodx_slot_publish(&tr.sl[i], blk[TR_LAST + j].exec, lc_len(), 0, NULL);
        fz_end("-> %d", err);
        FZ_EXPECT(K_ERRORS, "cmodx_slot_publish in the trampoline domain", err, 0);
        last[i] = TR_BASE + (uint32_t)(TR_LAST + j);
    }
    /* Finish the held slots, and sometimes a few more. */
    uint32_t fin_ids[TR_HELD + 3];
    int nfin = 0;
    /* A few unheld slots first, then the held ones: the held ids are the
     * most recently finished (a library that reuses ids at once, last in
     * first out, hands a held one to the next init). */
    for (int k = (int)fz_below(r, 3); k > 0; k--) {
        int i = (int)fz_below(r, (unsigned)n);
        int held = 0;
        for (int j = 0; j < tr.nheld; j++)
            held |= tr.held_idx[j] == i;
        if (!live[i] || held)
            continue;
        fin_ids[nfin++] = tr.sl[i].id;
        fz_begin("trampid: cmodx_slot_fini(slot %d, id %u)", i, tr.sl[i].id);
        cmodx_slot_fini(&tr.sl[i]);
        fz_end("-> done");
        live[i] = 0;
    }
    for (int j = 0; j < tr.nheld; j++) {
        int i = tr.held_idx[j];
        fin_ids[nfin++] = tr.sl[i].id;
        fz_begin("trampid: cmodx_slot_fini(slot %d, id %u) [its stub held]", i, tr.sl[i].id);
        cmodx_slot_fini(&tr.sl[i]);
        fz_end("-> done");
        live[i] = 0;
    }
    /* No fresh id, and every finished id waits for a grace period that
     * the caller (online, not quiescent since the fini) holds up: the
     * init waits for it up to grace_timeout_ms and gives up. */
    int nwait = 1 + (int)fz_below(r, 2);
    cmodx_slot early[2];
    int early_rc[2];
    char early_msg[2][160];
    for (int k = 0; k < nwait; k++) {
        fz_begin("trampid: cmodx_slot_init [every id in use or finished under a held stub]");
        early_rc[k] = cmodx_slot_init(tr.d, &early[k], blk[TR_NEW].exec);
        snprintf(early_msg[k], sizeof early_msg[k], "%s", cmodx_last_error());
        fz_end("-> %d (id %u)", early_rc[k], early_rc[k] ? 0u : early[k].id);
    }
    tr_do(2, "the trampid caller's calls through held stubs");
    for (int j = 0; j < tr.nheld; j++) {
        uint32_t want = last[tr.held_idx[j]];
        if (tr.got[j] != want)
            fz_fail(K_LIFETIME, "a stub of slot %d held across its cmodx_slot_fini returned "
                    "%#x; the slot's last target returns %#x%s (a finished trampoline id was "
                    "given to a new slot before a grace period)", tr.held_idx[j], tr.got[j],
                    want, tr.got[j] == TR_BASE + TR_NEW ? ", the new owner's code" : "");
    }
    for (int k = 0; k < nwait; k++) {
        if (early_rc[k] == 0)
            fz_fail(K_LIFETIME, "cmodx_slot_init returned 0 (id %u) while every free id was "
                    "finished under a caller holding its stub and no grace period could "
                    "complete; expected ETIMEDOUT", early[k].id);
        FZ_EXPECT(K_LIFETIME, "cmodx_slot_init waiting for a finished id's grace period",
                  early_rc[k], ETIMEDOUT);
        if (!strstr(early_msg[k], "grace period"))
            fz_fail(K_ERRORS, "cmodx_slot_init's ETIMEDOUT message does not say it waited for a "
                    "grace period: \"%s\"", early_msg[k]);
        fz_begin("trampid: cmodx_slot_publish into the slot whose init timed out");
        err = cmodx_slot_publish(&early[k], blk[TR_NEW].exec, lc_len(), 0, NULL);
        fz_end("-> %d", err);
        FZ_EXPECT(K_LIFETIME, "cmodx_slot_publish into a slot whose init failed (ETIMEDOUT)", err,
                  EINVAL);
    }
    /* The caller goes offline: the grace period completes, and the inits
     * get exactly the finished ids back (free ids before fresh ones; there
     * are no fresh ones). */
    tr_do(3, "the trampid caller going offline");
    cmodx_slot fresh[TR_HELD + 3];
    for (int k = 0; k < nfin; k++) {
        fz_begin("trampid: cmodx_slot_init [%d finished id(s), the caller offline]", nfin - k);
        int tries = 0;
        /* ETIMEDOUT only if this machine could not finish an empty grace
         * period within 20 ms: a slow machine, not a failure. */
        while ((err = cmodx_slot_init(tr.d, &fresh[k], blk[TR_NEW].exec)) == ETIMEDOUT &&
               ++tries < 1000)
            ;
        fz_end("-> %d (id %u)", err, err ? 0u : fresh[k].id);
        FZ_EXPECT(K_LIFETIME, "cmodx_slot_init of a finished id after its grace period", err, 0);
        int found = 0;
        for (int m = 0; m < nfin; m++)
            if (fin_ids[m] == fresh[k].id) {
                found = 1;
                fin_ids[m] = UINT32_MAX; /* each id once */
            }
        if (!found)
            fz_fail(K_LIFETIME, "cmodx_slot_init gave id %u, which is neither a finished id nor "
                    "free (the domain's ids are all in use)", fresh[k].id);
    }
    fz_begin("trampid: cmodx_slot_init [ids exhausted again]");
    cmodx_slot extra;
    err = cmodx_slot_init(tr.d, &extra, blk[TR_NEW].exec);
    fz_end("-> %d", err);
    FZ_EXPECT(K_BOUNDS, "cmodx_slot_init with every id in use and none finished", err, ENOMEM);
    /* The new owners run their code; a slot left alone runs its own. */
    tr.ncheck = 0;
    for (int k = 0; k < nfin && tr.ncheck < TR_HELD; k++)
        tr.check[tr.ncheck++] = &fresh[k];
    int kept = -1;
    for (size_t i = 0; i < n && kept < 0; i++)
        if (live[i])
            kept = (int)i;
    if (kept >= 0)
        tr.check[tr.ncheck++] = &tr.sl[kept];
    tr_do(4, "the trampid caller's calls through the new owners");
    for (int j = 0; j < tr.ncheck; j++) {
        uint32_t want = (kept >= 0 && tr.check[j] == &tr.sl[kept]) ? last[kept] : TR_BASE + TR_NEW;
        if (tr.check_got[j] != want)
            fz_fail(K_LIFETIME, "a call through %s slot (id %u) returned %#x; expected %#x",
                    want == TR_BASE + TR_NEW ? "a new owner's" : "an untouched",
                    tr.check[j]->id, tr.check_got[j], want);
    }
    tr_do(5, "the trampid caller's unregistration");
    pthread_join(th, NULL);
    for (int k = 0; k < nfin; k++)
        cmodx_slot_fini(&fresh[k]);
    for (size_t i = 0; i < n; i++)
        if (live[i])
            cmodx_slot_fini(&tr.sl[i]);
    fz_begin("trampid: cmodx_domain_destroy");
    err = cmodx_domain_destroy(tr.d);
    fz_end("-> %d", err);
    FZ_EXPECT(K_LIFETIME, "cmodx_domain_destroy (trampid)", err, 0);
    err = fz_heap_destroy(h);
    if (err != -1)
        FZ_EXPECT(K_LIFETIME, "cmodx_heap_destroy (trampid)", err, 0);
    free(tr.sl);
    free(last);
    free(live);
}

/* ==== cancellation inside a call ============================================ */

enum { CV_UNREGISTER, CV_DESTROY, CV_SYNCHRONIZE };
static const char *const cv_name[] = {"cmodx_thread_unregister", "cmodx_domain_destroy",
                                      "cmodx_synchronize"};
#define CV_UNSET (-12345)

static struct {
    int variant;
    int sig;
    cmodx_heap *h;
    cmodx_domain *d; /* signal strategy, long acknowledgement timeout */
    cmodx_domain *e; /* epoch */
    cmodx_slot slot;
    cmodx_block b[3];
    cmodx_thread *vself;
    int victim_ready, victim_go, victim_calling, victim_result;
    char victim_msg[256], writer_msg[256]; /* their cmodx_last_error() (per thread) */
    int silent_ready, silent_release, silent_acked, silent_leave;
    pid_t silent_tid;
    int writer_result, writer_done;
    struct lc_holder holder;
} cv;

/* No address-taken local in a frame the cancellation unwinds (ASan does
 * not unpoison such frames): the registrations are made here. */
static __attribute__((noinline)) void cv_victim_register(void)
{
    if (cmodx_thread_register(cv.e, &cv.vself))
        fz_fail(K_ERRORS, "cancel victim: register in E -> %s", cmodx_last_error());
    if (cv.variant == CV_UNREGISTER && cmodx_thread_register(cv.d, NULL))
        fz_fail(K_ERRORS, "cancel victim: register in D -> %s", cmodx_last_error());
}

static void *cv_victim(void *arg)
{
    (void)arg;
    fz_me = T_VICTIM;
    if (cv.variant != CV_SYNCHRONIZE)
        cv_victim_register(); /* online in E, never quiescent there */
    __atomic_store_n(&cv.victim_ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&cv.victim_go, __ATOMIC_ACQUIRE))
        usleep(200);
    fz_note("cancel victim: %s, to be cancelled inside", cv_name[cv.variant]);
    __atomic_store_n(&cv.victim_calling, 1, __ATOMIC_RELEASE);
    int err = cv.variant == CV_UNREGISTER ? cmodx_thread_unregister(cv.d)
              : cv.variant == CV_DESTROY  ? cmodx_domain_destroy(cv.d)
                                          : cmodx_synchronize(cv.e, 0);
    snprintf(cv.victim_msg, sizeof cv.victim_msg, "%s", err ? cmodx_last_error() : "");
    __atomic_store_n(&cv.victim_result, err, __ATOMIC_RELEASE);
    pthread_testcancel(); /* the cancellation sent while it waited acts here */
    return NULL;
}

static void *cv_silent(void *arg)
{
    (void)arg;
    fz_me = T_SILENT;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, cv.sig);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    if (cmodx_thread_register(cv.d, NULL))
        fz_fail(K_ERRORS, "silent thread: register -> %s", cmodx_last_error());
    cv.silent_tid = (pid_t)syscall(SYS_gettid);
    __atomic_store_n(&cv.silent_ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&cv.silent_release, __ATOMIC_ACQUIRE))
        usleep(200);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL); /* the pending signal: acknowledged */
    __atomic_store_n(&cv.silent_acked, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&cv.silent_leave, __ATOMIC_ACQUIRE))
        usleep(200);
    int err = cmodx_thread_unregister(cv.d);
    FZ_EXPECT(K_ERRORS, "cmodx_thread_unregister (silent thread)", err, 0);
    return NULL;
}

static void *cv_writer(void *arg)
{
    (void)arg;
    fz_me = T_WRITER;
    fz_begin("cancel writer: cmodx_slot_publish in D [waits for the silent thread's ack, "
             "holding D's locks]");
    int err = cmodx_slot_publish(&cv.slot, cv.b[1].exec, lc_len(), 0, NULL);
    fz_end("-> %d", err);
    snprintf(cv.writer_msg, sizeof cv.writer_msg, "%s", err ? cmodx_last_error() : "");
    __atomic_store_n(&cv.writer_result, err, __ATOMIC_RELEASE);
    __atomic_store_n(&cv.writer_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* The result RC of CALL, made by another thread (whose cmodx_last_error()
 * it kept in MSG): WANT, and a failure comes with a message. */
static void cv_expect_other(int kind, const char *call, int rc, const char *msg, int want)
{
    if (rc != want)
        fz_fail(kind, "%s returned %d (%s: \"%s\"); expected %d", call, rc, strerror(rc), msg,
                want);
    if (rc && !msg[0])
        fz_fail(K_ERRORS, "%s returned %d (%s) with an empty cmodx_last_error()", call, rc,
                strerror(rc));
}

/* Is SIG pending for thread TID?  (Then the writer has sent it and waits
 * for the acknowledgement with D's locks held.) */
static int sig_pending_in(pid_t tid, int sig)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int yes = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "SigPnd:", 7)) {
            unsigned long long m = strtoull(line + 7, NULL, 16);
            yes = (int)((m >> (sig - 1)) & 1);
        }
    fclose(f);
    return yes;
}

void fz_step_cancel(struct fz_rng *r, unsigned variant)
{
    (void)r;
    memset(&cv, 0, sizeof cv);
    cv.variant = (int)(variant % 3);
    cv.sig = SIGRTMIN + 9;
    cv.victim_result = CV_UNSET;
    cv.writer_result = CV_UNSET;
    lc_epoch_domain("cancel", &cv.h, cv.b, 3, 0x7c000000u, &cv.e);
    int err;
    pthread_t victim, silent = 0, writer = 0;
    cmodx_slot *pub = &cv.slot;
    cmodx_domain *pubd;
    if (cv.variant == CV_SYNCHRONIZE) {
        /* E's grace period waits for the holder: the victim's call waits. */
        pubd = cv.e;
        err = cmodx_slot_init(cv.e, &cv.slot, cv.b[0].exec);
        FZ_EXPECT(K_ERRORS, "cmodx_slot_init (cancel)", err, 0);
        lc_holder_start(&cv.holder, cv.e, "holder");
        pthread_create(&victim, NULL, cv_victim, NULL);
        lc_wait_flag(&cv.victim_ready, 1, K_MODEL, "the victim's start");
        __atomic_store_n(&cv.victim_go, 1, __ATOMIC_RELEASE);
        lc_wait_flag(&cv.victim_calling, 1, K_MODEL, "the victim's call");
    } else {
        /* D: a signal writer holds D's writer and thread-list locks while
         * it waits for a thread that blocks the signal; the victim, online
         * in E, calls into D and waits for those locks. */
        pubd = NULL;
        struct cmodx_domain_config cd = {.strategy = CMODX_SYNC_SIGNAL, .heap = cv.h,
                                         .signal_number = cv.sig,
                                         .signal_timeout_ms = 600000};
        err = cmodx_domain_create(&cd, &cv.d);
        FZ_EXPECT(K_ERRORS, "cmodx_domain_create(signal) (cancel)", err, 0);
        pubd = cv.d;
        err = cmodx_slot_init(cv.d, &cv.slot, cv.b[0].exec);
        FZ_EXPECT(K_ERRORS, "cmodx_slot_init (cancel)", err, 0);
        /* The victim registers first (registration takes D's writer lock). */
        pthread_create(&victim, NULL, cv_victim, NULL);
        lc_wait_flag(&cv.victim_ready, 1, K_MODEL, "the victim's registration");
        pthread_create(&silent, NULL, cv_silent, NULL);
        lc_wait_flag(&cv.silent_ready, 1, K_MODEL, "the silent thread's registration");
        pthread_create(&writer, NULL, cv_writer, NULL);
        /* The writer holds D's locks once its signal is pending in the
         * silent thread.  qemu-user takes every host signal itself and
         * keeps the guest's pending set apart, so there the kernel never
         * shows it: after 500 ms the step goes on after a pause.  The model's
         * results are the same either way (the victim's call completes
         * whether or not it had to wait); only the wait is then likely
         * rather than certain. */
        uint64_t t0 = fz_now_ns();
        while (!sig_pending_in(cv.silent_tid, cv.sig)) {
            if (fz_now_ns() - t0 > 500000000ull) {
                fz_note("the sync signal is not seen pending in /proc (an emulator?): "
                        "going on after 200 ms");
                usleep(200000);
                break;
            }
            usleep(500);
        }
        __atomic_store_n(&cv.victim_go, 1, __ATOMIC_RELEASE);
        lc_wait_flag(&cv.victim_calling, 1, K_MODEL, "the victim's call");
        /* E's grace period: the victim is online in E but must be parked
         * (offline in every domain) while it waits for D's locks. */
        fz_begin("cmodx_synchronize(E, 0) while a thread of E waits inside %s(D)",
                 cv_name[cv.variant]);
        err = cmodx_synchronize(cv.e, 0);
        fz_end("-> %d", err);
        FZ_EXPECT(K_LOCK, "cmodx_synchronize of a domain whose thread waits for another "
                  "domain's lock inside a library call", err, 0);
        if (__atomic_load_n(&cv.writer_done, __ATOMIC_ACQUIRE))
            fz_fail(K_SIGNAL, "the signal writer's publish returned (%d) although a "
                    "registered thread blocks the signal", cv.writer_result);
    }
    /* Cancelled inside the call: it finishes the call, then goes. */
    fz_begin("pthread_cancel(victim inside %s)", cv_name[cv.variant]);
    err = pthread_cancel(victim);
    fz_end("-> %d", err);
    if (cv.variant == CV_SYNCHRONIZE) {
        lc_holder_release(&cv.holder);
    } else {
        __atomic_store_n(&cv.silent_release, 1, __ATOMIC_RELEASE);
        lc_join(writer, "the signal writer", NULL);
        cv_expect_other(K_SIGNAL, "the signal writer's publish once its thread acknowledged",
                        cv.writer_result, cv.writer_msg, 0);
    }
    void *ret = NULL;
    lc_join(victim, "the cancelled victim", &ret);
    if (ret != PTHREAD_CANCELED)
        fz_fail(K_CANCEL, "the victim of pthread_cancel inside %s was not cancelled",
                cv_name[cv.variant]);
    int vr = __atomic_load_n(&cv.victim_result, __ATOMIC_ACQUIRE);
    if (vr == CV_UNSET)
        fz_fail(K_CANCEL, "%s was a cancellation point: the thread was cancelled inside the "
                "call (any lock it held is held forever)", cv_name[cv.variant]);
    /* unregister: 0; destroy: EBUSY (the silent thread is registered and
     * the slot initialised); synchronize: 0 once the holder left. */
    if (cv.variant == CV_DESTROY)
        cv_expect_other(K_LIFETIME, "cmodx_domain_destroy with registered threads and a slot "
                        "(cancelled inside)", vr, cv.victim_msg, EBUSY);
    else
        cv_expect_other(K_CANCEL, cv_name[cv.variant], vr, cv.victim_msg, 0);
    /* No lock left held: the next steps complete. */
    fz_begin("cmodx_slot_publish after the cancellation");
    err = cmodx_slot_publish(pub, cv.b[2].exec, lc_len(), CMODX_RETIRE_OLD, NULL);
    fz_end("-> %d", err);
    FZ_EXPECT(K_CANCEL, "cmodx_slot_publish after a thread was cancelled inside the library", err,
              0);
    if (cv.variant != CV_SYNCHRONIZE) {
        __atomic_store_n(&cv.silent_leave, 1, __ATOMIC_RELEASE);
        lc_join(silent, "the silent thread", NULL);
    } else {
        lc_holder_join(&cv.holder);
    }
    fz_begin("cmodx_synchronize(%s, 0) after the cancellation", pubd == cv.e ? "E" : "D");
    err = cmodx_synchronize(pubd, 0);
    fz_end("-> %d", err);
    FZ_EXPECT(K_CANCEL, "cmodx_synchronize after a thread was cancelled inside the library", err,
              0);
    cmodx_slot_fini(&cv.slot);
    if (cv.d) {
        fz_begin("cmodx_domain_destroy(D) after the cancellation");
        err = cmodx_domain_destroy(cv.d);
        fz_end("-> %d", err);
        FZ_EXPECT(K_CANCEL, "cmodx_domain_destroy after a thread was cancelled inside the library",
                  err, 0);
    }
    fz_begin("cmodx_domain_destroy(E) after the cancellation");
    err = cmodx_domain_destroy(cv.e);
    fz_end("-> %d", err);
    FZ_EXPECT(K_CANCEL, "cmodx_domain_destroy of the domain the cancelled thread was online in",
              err, 0);
    err = fz_heap_destroy(cv.h);
    if (err != -1)
        FZ_EXPECT(K_LIFETIME, "cmodx_heap_destroy (cancel)", err, 0);
}

/* ==== fork from a signal handler inside the library ========================= */

static struct {
    cmodx_heap *h;
    cmodx_domain *e;
    cmodx_slot slot;
    cmodx_block b[2];
    pid_t child; /* atomic: set by the handler in the parent */
    struct lc_holder holder;
    int in_sync, sync_result;
    char sync_msg[256];
} fk;

/* The child: 42 if the library says it is unusable, 43 if it works (the
 * handler interrupted its thread outside the library), 1 otherwise.
 * _exit only: it never returns into the interrupted frame. */
static void fk_child(void)
{
    cmodx_block b;
    int e1 = cmodx_synchronize(fk.e, 1);
    int e2 = cmodx_block_alloc(fk.h, 64, &b);
    if (e1 == ENOTRECOVERABLE && e2 == ENOTRECOVERABLE) {
        cmodx_heap *h2 = NULL;
        int e3 = cmodx_heap_create(NULL, &h2);
        int e4 = cmodx_slot_publish(&fk.slot, fk.b[1].exec, lc_len(), 0, NULL);
        /* Its write views still map the parent's live code: a write must
         * be refused (the parent checks its block afterwards). */
        static const unsigned char zero[4];
        int e5 = cmodx_block_write(&fk.b[0], 0, zero, sizeof zero);
        _exit(e3 == ENOTRECOVERABLE && e4 == ENOTRECOVERABLE && e5 == ENOTRECOVERABLE &&
                      h2 == NULL
                  ? 42
                  : 1);
    }
    if (e1 != ENOTRECOVERABLE && e2 == 0 && cmodx_block_free(fk.h, b.exec) == 0)
        _exit(43);
    _exit(1);
}

static void fk_handler(int sig)
{
    (void)sig;
    int saved = errno;
    pid_t p = fork();
    if (p == 0)
        fk_child();
    __atomic_store_n(&fk.child, p, __ATOMIC_RELEASE);
    errno = saved;
}

static void *fk_syncer(void *arg)
{
    (void)arg;
    fz_me = T_VICTIM;
    __atomic_store_n(&fk.in_sync, 1, __ATOMIC_RELEASE);
    fz_note("forksig syncer: cmodx_synchronize(E, 0), a handler forks inside it");
    int err = cmodx_synchronize(fk.e, 0);
    snprintf(fk.sync_msg, sizeof fk.sync_msg, "%s", err ? cmodx_last_error() : "");
    __atomic_store_n(&fk.sync_result, err, __ATOMIC_RELEASE);
    return NULL;
}

/* Signal T, whose handler forks; the child's exit status (or 128+signal). */
static int fk_fork_in(pthread_t t, int sig, const char *where)
{
    __atomic_store_n(&fk.child, 0, __ATOMIC_RELEASE);
    fz_begin("forksig: a signal handler forks %s", where);
    pthread_kill(t, sig);
    pid_t p;
    uint64_t t0 = fz_now_ns();
    while (!(p = __atomic_load_n(&fk.child, __ATOMIC_ACQUIRE))) {
        if (fz_now_ns() - t0 > LC_BOUND_NS)
            fz_fail(K_FORK, "fork() in a signal handler %s did not return within 45 s (the "
                    "prepare handler waits for a lock its own thread holds)", where);
        usleep(200);
    }
    if (p < 0)
        fz_fail(K_FORK, "fork() in a signal handler %s failed", where);
    int st = 0;
    waitpid(p, &st, 0);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    fz_end("-> child %d exit %d", (int)p, code);
    return code;
}

void fz_step_forksig(struct fz_rng *r)
{
    (void)r;
    /* ThreadSanitizer reports the child's library calls from a signal
     * handler (by design here); test_rel2 forksig runs this under TSan with
     * report_signal_unsafe=0, which the fuzzer does not impose on itself. */
    if (LC_TSAN)
        return;
    memset(&fk, 0, sizeof fk);
    fk.sync_result = CV_UNSET;
    int sig = SIGRTMIN + 10;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fk_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, &old);
    lc_epoch_domain("forksig", &fk.h, fk.b, 2, 0x7e000000u, &fk.e);
    int err = cmodx_slot_init(fk.e, &fk.slot, fk.b[0].exec);
    FZ_EXPECT(K_ERRORS, "cmodx_slot_init (forksig)", err, 0);
    pthread_t syncer;
    lc_holder_start(&fk.holder, fk.e, "forksig holder");
    /* Outside the library: an ordinary child. */
    int st = fk_fork_in(pthread_self(), sig, "outside the library");
    if (st != 43)
        fz_fail(K_FORK, "a child forked by a signal handler outside any library call exited %d; "
                "expected 43 (its library works: block_alloc and block_free succeed)", st);
    pthread_create(&syncer, NULL, fk_syncer, NULL);
    lc_wait_flag(&fk.in_sync, 1, K_MODEL, "the syncer's start");
    /* Inside cmodx_synchronize (it waits for the holder for as long as
     * the holder is held): an unusable child.  43 means the signal came
     * before the call began: again. */
    int tries = 0;
    while ((st = fk_fork_in(syncer, sig, "while its thread is inside cmodx_synchronize")) == 43 &&
           ++tries < 1000)
        usleep(5000);
    if (st != 42)
        fz_fail(K_FORK, "a child forked by a signal handler that interrupted cmodx_synchronize "
                "exited %d; expected 42 (ENOTRECOVERABLE from synchronize, block_alloc, "
                "heap_create, slot_publish and block_write)%s", st,
                st == 1 ? ": a call in the child did not return ENOTRECOVERABLE" : "");
    for (int i = 0; i < 2; i++)
        if (!fz_code_intact(&fk.b[i], 0, 0x7e000000u + (uint32_t)i))
            fz_fail(K_FORK, "block %d of the parent changed while an unusable child (forked "
                    "inside a library call) ran: the child wrote into the parent's code", i);
    if (__atomic_load_n(&fk.sync_result, __ATOMIC_ACQUIRE) != CV_UNSET)
        fz_fail(K_MODEL, "cmodx_synchronize returned %d while a registered thread was online "
                "and never quiescent", fk.sync_result);
    /* The parent is unaffected: the call completes once the holder goes. */
    lc_holder_release(&fk.holder);
    lc_join(syncer, "the forksig syncer", NULL);
    lc_holder_join(&fk.holder);
    cv_expect_other(K_FORK, "cmodx_synchronize interrupted by a forking signal handler",
                    fk.sync_result, fk.sync_msg, 0);
    fz_begin("forksig: cmodx_slot_publish(CMODX_RETIRE_OLD) in the parent");
    err = cmodx_slot_publish(&fk.slot, fk.b[1].exec, lc_len(), CMODX_RETIRE_OLD, NULL);
    fz_end("-> %d", err);
    FZ_EXPECT(K_FORK, "cmodx_slot_publish in the parent after the handler's fork", err, 0);
    if (fz_call(fk.slot.target) != 0x7e000001u)
        fz_fail(K_FORK, "the parent's slot does not run its new target after the fork");
    fz_begin("forksig: cmodx_synchronize(E, 0)");
    err = cmodx_synchronize(fk.e, 0);
    fz_end("-> %d", err);
    FZ_EXPECT(K_FORK, "cmodx_synchronize in the parent after the handler's fork", err, 0);
    cmodx_slot_fini(&fk.slot);
    err = cmodx_domain_destroy(fk.e);
    FZ_EXPECT(K_FORK, "cmodx_domain_destroy (forksig)", err, 0);
    err = fz_heap_destroy(fk.h);
    if (err != -1)
        FZ_EXPECT(K_LIFETIME, "cmodx_heap_destroy (forksig)", err, 0);
    sigaction(sig, &old, NULL);
}
