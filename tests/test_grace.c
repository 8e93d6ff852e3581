#define _GNU_SOURCE
/* Waiting for grace periods (src/thread/reclaim.c, wait_for()): a writer
 * that sleeps without a timeout (cmodx_synchronize(d, 0)) is woken by
 * every way a thread stops holding the period up: announcing, going
 * offline, exiting without unregistering; many waits against readers that
 * announce, go offline and come back at random never lose a wake-up; the
 * counters of cmodx_reclaim_get_stats() add up, and reclamation makes the
 * membarrier calls the ordering argument says and no more.  Concurrent
 * callers share grace periods, but never one that began before their call
 * (a reader holding a reference across the caller's start), and readers
 * checking shared objects never see one a caller declared unreachable.
 * A lost wake-up shows as a writer that does not return: each wait is
 * given a generous deadline (minutes, never a speed requirement) and the
 * test fails, naming the case, instead of hanging.
 * usage: test_grace [symmetric] [noshare]   (noshare: only the no-early-share
 * case, the mutation suite's probe) */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"
#include "thread/thread.h" /* the domain's follower count (no public view) */

#define DEADLINE_S 120 /* a lost wake-up, not a slow machine */

static unsigned domain_flags;
static cmodx_domain *dom;

static void new_domain(void)
{
    struct cmodx_domain_config c = {.flags = domain_flags};
    REQUIRE(cmodx_domain_create(&c, &dom) == 0);
}

static void stats(struct cmodx_reclaim_stats *s)
{
    cmodx_reclaim_get_stats(dom, s);
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- a writer thread with a deadline ------------------------------------ */

struct waiter {
    pthread_t th;
    int err;
    int done;
    int tid; /* its kernel thread id, once running */
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    __atomic_store_n(&w->tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
    w->err = cmodx_synchronize(dom, 0); /* no timeout: only wake-ups end its sleeps */
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void waiter_start(struct waiter *w)
{
    w->done = 0;
    w->tid = 0;
    REQUIRE(pthread_create(&w->th, NULL, waiter_main, w) == 0);
}

/* 1 if the writer returned before the deadline (then joined), else 0 (it
 * is left behind: the test fails and exits). */
static int waiter_join(struct waiter *w, const char *what)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += DEADLINE_S;
    if (pthread_timedjoin_np(w->th, NULL, &dl) != 0) {
        fprintf(stderr, "test_grace: %s: cmodx_synchronize(d, 0) not woken within %d s\n",
                what, DEADLINE_S);
        check_failures++;
        return 0;
    }
    CHECK_EQ(w->err, 0);
    return 1;
}

/* ---- 1. each way of releasing a sleeping writer -------------------------- */

/* Is thread TID of this process asleep ('S' in /proc/self/task/TID/stat)? */
static int asleep(int tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    return p && p[1] == ' ' && p[2] == 'S';
}

/* Until W's thread has been seen asleep 20 times in a row 1 ms apart (its
 * spin is over and it waits on the futex), at most about MS ms: only
 * makes it likely that the wait slept, which the caller then checks. */
static void until_asleep(struct waiter *w, long ms)
{
    int tid;
    while (!(tid = __atomic_load_n(&w->tid, __ATOMIC_ACQUIRE)))
        pause_ms(1);
    for (long t = 0, run = 0; t < ms && run < 20; t++) {
        run = asleep(tid) ? run + 1 : 0;
        pause_ms(1);
    }
}

enum release { BY_ANNOUNCING, BY_GOING_OFFLINE, BY_EXITING };

struct laggard {
    enum release how;
    int registered, go;
};

static void *laggard_main(void *arg)
{
    struct laggard *l = arg;
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(dom, &self) == 0);
    __atomic_store_n(&l->registered, 1, __ATOMIC_RELEASE);
    /* Online and silent: the writer's spin cannot succeed, it must sleep. */
    while (!__atomic_load_n(&l->go, __ATOMIC_ACQUIRE))
        pause_ms(1);
    if (l->how == BY_ANNOUNCING) {
        cmodx_quiescent(self);
        cmodx_thread_unregister(dom);
    } else if (l->how == BY_GOING_OFFLINE) {
        cmodx_thread_offline(self);
        pause_ms(10);
        cmodx_thread_online(self); /* the writer may still be waking: harmless */
        cmodx_thread_unregister(dom);
    }
    /* BY_EXITING: return registered; the exit destructor takes it offline. */
    return NULL;
}

/* 1 if the writer slept during the wait (the case was exercised), 0 if
 * the machine was too slow for it to get there before the release (the
 * caller tries again; the other checks held either way). */
static int release_once(enum release how, const char *what, long asleep_ms)
{
    new_domain();
    struct laggard l = {.how = how};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, laggard_main, &l) == 0);
    while (!__atomic_load_n(&l.registered, __ATOMIC_ACQUIRE))
        pause_ms(1);
    struct cmodx_reclaim_stats s0, s1;
    stats(&s0);
    struct waiter w;
    waiter_start(&w);
    until_asleep(&w, asleep_ms);
    CHECK(!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE)); /* the laggard holds it up */
    __atomic_store_n(&l.go, 1, __ATOMIC_RELEASE);
    int ok = waiter_join(&w, what);
    pthread_join(th, NULL);
    if (!ok)
        exit(check_finish("test_grace"));
    stats(&s1);
    CHECK_EQ(s1.waits - s0.waits, 1);
    /* The laggard held the period until the release: one wait, and it
     * slept unless the writer was still spinning when we let go (a slow
     * or loaded machine: not a failure, the case is run again). */
    uint64_t slept = s1.slept_waits - s0.slept_waits;
    CHECK(slept <= 1);
    CHECK(slept == 0 || s1.sleeps - s0.sleeps >= 1);
    /* Reclamation's own membarriers: none with symmetric fences; else F
     * (weakly ordered processors only) and one for the sleep phase. */
    uint64_t mb = s1.membarriers - s0.membarriers;
    if (domain_flags & CMODX_DOMAIN_SYMMETRIC_FENCES)
        CHECK_EQ(mb, 0);
    else
        CHECK(mb <= 2);
#if defined(__x86_64__)
    CHECK(mb <= 1); /* TSO: F is the writer's own fence */
#endif
    CHECK(cmodx_domain_destroy(dom) == 0);
    return slept == 1;
}

static void test_release(enum release how, const char *what)
{
    /* Waits that give the writer ever longer to reach its sleep: a slow
     * machine costs time, never a failure. */
    long ms = 1000;
    for (int i = 0; i < 5; i++, ms *= 4)
        if (release_once(how, what, ms))
            return;
    printf("test_grace: %s: the writer was still spinning at every release (a loaded "
           "machine); its wake-up from a sleep was not exercised\n", what);
}

/* ---- 2. many waits, readers coming and going ------------------------------ */

#define READERS 6
#define WAITS 400

static int stop;

static void *churn_reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(dom, &self) == 0);
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        unsigned r = rand_r(&seed) % 16;
        if (r == 0) {
            cmodx_thread_offline(self);
            pause_ms(rand_r(&seed) % 2);
            cmodx_thread_online(self);
        } else if (r == 1) {
            pause_ms(1); /* online and silent for a while: the writer sleeps */
        } else {
            for (int i = 0; i < 1000; i++)
                __asm__ volatile("" ::: "memory");
        }
        cmodx_quiescent(self);
    }
    cmodx_thread_unregister(dom);
    return NULL;
}

struct many {
    int waits, done, err;
};

static void *many_main(void *arg)
{
    struct many *m = arg;
    for (int i = 0; i < m->waits && !m->err; i++)
        m->err = cmodx_synchronize(dom, 0);
    __atomic_store_n(&m->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_many_waits(void)
{
    new_domain();
    pthread_t r[READERS];
    __atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
    for (int i = 0; i < READERS; i++)
        REQUIRE(pthread_create(&r[i], NULL, churn_reader, (void *)(uintptr_t)(i + 1)) == 0);
    struct cmodx_reclaim_stats s0, s1;
    stats(&s0);
    struct many m = {.waits = WAITS};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, many_main, &m) == 0);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += DEADLINE_S * 2;
    if (pthread_timedjoin_np(th, NULL, &dl) != 0) {
        fprintf(stderr, "test_grace: many waits: a cmodx_synchronize(d, 0) was not woken\n");
        check_failures++;
        exit(check_finish("test_grace"));
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < READERS; i++)
        pthread_join(r[i], NULL);
    CHECK_EQ(m.err, 0);
    stats(&s1);
    uint64_t waits = s1.waits - s0.waits, slept = s1.slept_waits - s0.slept_waits;
    CHECK_EQ(waits, WAITS);
    if (getenv("TEST_GRACE_VERBOSE"))
        printf("many waits: %llu waits, %llu slept, %llu sleeps, %llu wake calls, %llu membarriers\n",
               (unsigned long long)waits, (unsigned long long)slept,
               (unsigned long long)(s1.sleeps - s0.sleeps), (unsigned long long)(s1.wakeups - s0.wakeups),
               (unsigned long long)(s1.membarriers - s0.membarriers));
    CHECK(slept <= waits);
    CHECK(s1.sleeps - s0.sleeps >= slept);
    CHECK_EQ(s1.grace_periods - s0.grace_periods, WAITS);
    /* Reclamation's own membarriers: none with symmetric fences; else at
     * most F per period (weakly ordered processors only) plus one per
     * sleep phase. */
    uint64_t mb = s1.membarriers - s0.membarriers;
    if (domain_flags & CMODX_DOMAIN_SYMMETRIC_FENCES)
        CHECK_EQ(mb, 0);
    else
        CHECK(mb <= waits + slept);
#if defined(__x86_64__)
    /* TSO: a grace period starts without membarrier (docs/RECLAMATION.md). */
    CHECK(mb <= slept);
#endif
    CHECK(cmodx_domain_destroy(dom) == 0);
}

/* ---- 3. concurrent callers share grace periods, never one that began
 * before their call ---------------------------------------------------- */

struct caller {
    pthread_t th;
    int registered, go, done, err;
    cmodx_thread *self;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    /* Registered (before any period starts: registration takes the writer
     * lock, which a running period holds), offline until told to call, as
     * a writer that is also a reader would be between its calls. */
    REQUIRE(cmodx_thread_register(dom, &c->self) == 0);
    cmodx_thread_offline(c->self);
    __atomic_store_n(&c->registered, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&c->go, __ATOMIC_ACQUIRE))
        pause_ms(1);
    c->err = cmodx_synchronize(dom, 0);
    __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
    cmodx_thread_unregister(dom);
    return NULL;
}

static void caller_start(struct caller *c)
{
    c->registered = c->go = c->done = 0;
    REQUIRE(pthread_create(&c->th, NULL, caller_main, c) == 0);
    while (!__atomic_load_n(&c->registered, __ATOMIC_ACQUIRE))
        pause_ms(1);
}

static void caller_go(struct caller *c) { __atomic_store_n(&c->go, 1, __ATOMIC_RELEASE); }

/* Returned, or still inside cmodx_synchronize() after a while? */
static int caller_done(struct caller *c) { return __atomic_load_n(&c->done, __ATOMIC_ACQUIRE); }

static int caller_join(struct caller *c, const char *what)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += DEADLINE_S;
    if (pthread_timedjoin_np(c->th, NULL, &dl) != 0) {
        fprintf(stderr, "test_grace: %s: cmodx_synchronize(d, 0) not woken within %d s\n",
                what, DEADLINE_S);
        check_failures++;
        return 0;
    }
    CHECK_EQ(c->err, 0);
    return 1;
}

/* A reader (this thread) holds, across the start of caller C's call, a
 * reference it took after announcing the period that caller L was already
 * waiting for.  C arrives while L's period runs (a laggard S holds it), so
 * it may not share it: L's period began before C's call.  When S lets L's
 * period end, C must still wait for this reader's next announcement.  A
 * library that let C return with L (the mutant sync_share_early) frees
 * what the reader still holds; here C is seen returning while the reader
 * has not announced again. */
static void test_no_early_share(void)
{
    new_domain();
    cmodx_thread *me;
    REQUIRE(cmodx_thread_register(dom, &me) == 0);
    struct laggard s = {.how = BY_ANNOUNCING};
    pthread_t sth;
    REQUIRE(pthread_create(&sth, NULL, laggard_main, &s) == 0);
    while (!__atomic_load_n(&s.registered, __ATOMIC_ACQUIRE))
        pause_ms(1);
    cmodx_quiescent(me);
    uint64_t g0 = __atomic_load_n(me->fast.gp_seq, __ATOMIC_ACQUIRE);
    struct caller l, c;
    caller_start(&l);
    caller_start(&c);
    caller_go(&l);
    /* L's period has begun once gp_seq moves; S holds it up. */
    while (__atomic_load_n(me->fast.gp_seq, __ATOMIC_ACQUIRE) == g0)
        pause_ms(1);
    /* Announce L's period, then take the reference: a pointer loaded
     * now is covered by no period that has begun. */
    cmodx_quiescent(me);
    caller_go(&c); /* C's call begins after our reference was taken */
    /* C cannot lead (L does) nor be covered (its ticket is later than
     * any L's period read), so it follows L's period: it spins briefly,
     * then sleeps on the domain's follower futex.  Wait until it sleeps,
     * so that L's period ends while C is known to follow it (a fixed
     * pause let a loaded machine end L's period before C arrived, and
     * then C led its own period and the case tested nothing). */
    int following = 0;
    for (int i = 0; i < DEADLINE_S * 1000 && !following; i++) {
        following = __atomic_load_n(&dom->sync_sleepers, __ATOMIC_ACQUIRE) > 0;
        if (!following)
            pause_ms(1);
    }
    if (!following)
        fprintf(stderr, "test_grace: no early share: the second caller never waited for the "
                "first caller's grace period within %d s\n", DEADLINE_S);
    CHECK(following);
    CHECK(!caller_done(&l));
    CHECK(!caller_done(&c));
    __atomic_store_n(&s.go, 1, __ATOMIC_RELEASE); /* S announces: L's period ends */
    int ok = caller_join(&l, "no early share: the first caller");
    pthread_join(sth, NULL);
    /* L has returned; C must not, until we announce.  Half a second gives
     * a wrong library (C woken with L) ample time to show it; a correct one
     * never returns here, however slow the machine. */
    for (int i = 0; ok && i < 50 && !caller_done(&c); i++)
        pause_ms(10);
    int early = caller_done(&c);
    if (early)
        fprintf(stderr, "test_grace: no early share: cmodx_synchronize returned on a grace "
                "period that began before its call, while a reader still held a reference\n");
    CHECK(!early);
    cmodx_quiescent(me); /* release the reference: C's own period can end */
    ok = caller_join(&c, "no early share: the second caller") && ok;
    cmodx_thread_unregister(dom);
    if (!ok)
        exit(check_finish("test_grace"));
    CHECK(cmodx_domain_destroy(dom) == 0);
}

/* Several callers call cmodx_synchronize() back to back while readers
 * take references to a shared object and check it across a yield; each
 * caller replaces the object, synchronises, then marks the old one dead.
 * A reader that sees a dead object was not waited for.  Dead objects are
 * freed only much later (a ring), so a wrong library shows as a dead mark,
 * not as a use after free (ASan would also report that one). */
#define SHARERS 4
#define SHARE_READERS 3
#define SHARE_CALLS 300
#define RING 64

struct object {
    int alive;
};

static struct object *shared_obj;
static int share_stop, dead_seen;

static void *share_reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(dom, &self) == 0);
    while (!__atomic_load_n(&share_stop, __ATOMIC_ACQUIRE)) {
        struct object *o = __atomic_load_n(&shared_obj, __ATOMIC_ACQUIRE);
        int a = __atomic_load_n(&o->alive, __ATOMIC_RELAXED);
        unsigned r = rand_r(&seed) % 8;
        if (r == 0)
            sched_yield(); /* hold the reference across a writer's call */
        else if (r == 1)
            pause_ms(1);
        int b = __atomic_load_n(&o->alive, __ATOMIC_RELAXED);
        if (a != 1 || b != 1)
            __atomic_store_n(&dead_seen, 1, __ATOMIC_RELAXED);
        cmodx_quiescent(self);
        if (rand_r(&seed) % 64 == 0) {
            cmodx_thread_offline(self);
            sched_yield();
            cmodx_thread_online(self);
        }
    }
    cmodx_thread_unregister(dom);
    return NULL;
}

struct sharer {
    pthread_t th;
    int err, done;
    struct object *ring[RING];
};

static void *sharer_main(void *arg)
{
    struct sharer *w = arg;
    for (int i = 0; i < SHARE_CALLS && !w->err; i++) {
        struct object *n = malloc(sizeof *n);
        REQUIRE(n);
        n->alive = 1;
        struct object *old = __atomic_exchange_n(&shared_obj, n, __ATOMIC_ACQ_REL);
        w->err = cmodx_synchronize(dom, 0);
        __atomic_store_n(&old->alive, 0, __ATOMIC_RELAXED); /* no reader may still hold it */
        free(w->ring[i % RING]);
        w->ring[i % RING] = old;
    }
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_shared_waits(void)
{
    new_domain();
    struct object *first = malloc(sizeof *first);
    REQUIRE(first);
    first->alive = 1;
    shared_obj = first;
    share_stop = dead_seen = 0;
    pthread_t r[SHARE_READERS];
    for (int i = 0; i < SHARE_READERS; i++)
        REQUIRE(pthread_create(&r[i], NULL, share_reader, (void *)(uintptr_t)(i + 1)) == 0);
    struct cmodx_reclaim_stats s0, s1;
    stats(&s0);
    static struct sharer w[SHARERS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < SHARERS; i++)
        REQUIRE(pthread_create(&w[i].th, NULL, sharer_main, &w[i]) == 0);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += DEADLINE_S * 2;
    for (int i = 0; i < SHARERS; i++) {
        if (pthread_timedjoin_np(w[i].th, NULL, &dl) != 0) {
            fprintf(stderr, "test_grace: shared waits: a cmodx_synchronize(d, 0) was not woken\n");
            check_failures++;
            exit(check_finish("test_grace"));
        }
        CHECK_EQ(w[i].err, 0);
    }
    __atomic_store_n(&share_stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < SHARE_READERS; i++)
        pthread_join(r[i], NULL);
    stats(&s1);
    if (__atomic_load_n(&dead_seen, __ATOMIC_RELAXED)) {
        fprintf(stderr, "test_grace: shared waits: a reader saw an object that a "
                "cmodx_synchronize caller had already declared unreachable\n");
        check_failures++;
    }
    uint64_t periods = s1.grace_periods - s0.grace_periods;
    if (getenv("TEST_GRACE_VERBOSE"))
        printf("shared waits: %d calls, %llu grace periods\n", SHARERS * SHARE_CALLS,
               (unsigned long long)periods);
    /* Shared or not, no call runs more than one period of its own. */
    CHECK(periods >= 1 && periods <= SHARERS * SHARE_CALLS);
    for (int i = 0; i < SHARERS; i++)
        for (int k = 0; k < RING; k++)
            free(w[i].ring[k]);
    free(shared_obj);
    CHECK(cmodx_domain_destroy(dom) == 0);
}

int main(int argc, char **argv)
{
    int only_noshare = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "symmetric") == 0)
            domain_flags = CMODX_DOMAIN_SYMMETRIC_FENCES;
        else if (strcmp(argv[i], "noshare") == 0)
            only_noshare = 1;
        else {
            fprintf(stderr, "usage: test_grace [symmetric] [noshare]\n");
            return 2;
        }
    }
    if (only_noshare) {
        test_no_early_share();
        return check_finish("test_grace");
    }
    test_release(BY_ANNOUNCING, "released by an announcement");
    test_release(BY_GOING_OFFLINE, "released by going offline");
    test_release(BY_EXITING, "released by exiting registered");
    test_many_waits();
    test_no_early_share();
    test_shared_waits();
    return check_finish("test_grace");
}
