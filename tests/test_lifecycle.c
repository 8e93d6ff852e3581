/*
 * tests/test_lifecycle.c - concurrency and lifecycle edges (issue 12):
 *
 *   test_lifecycle lock STRATEGY   every public call an online registered
 *                                  thread may make while another thread
 *                                  waits in cmodx_synchronize(d, 0) returns
 *                                  (kind 1: nothing waits on a lock that
 *                                  writer holds without going offline)
 *   test_lifecycle cancel          pthread_cancel of a thread inside a
 *                                  publish leaves no lock held (kind 2)
 *   test_lifecycle cancel-fork     nor does a cancellation pending when a
 *                                  thread forks (heaps only)
 *   test_lifecycle fork STRATEGY   the child's code heap is the parent's at
 *                                  the fork, under a parent that publishes,
 *                                  frees and reuses meanwhile; holes are not
 *                                  populated; a chunk of 2 GiB (kind 4)
 *   test_lifecycle signal          the signal strategy refuses unfit
 *                                  signals; a signal left pending by a
 *                                  timed-out publish never kills the
 *                                  process (kind 5)
 *   test_lifecycle membarrier      membarrier failing after start-up fails
 *                                  the calls that need it, frees nothing on
 *                                  a guess (kind 6)
 *   test_lifecycle forkcost        not a test: prints what fork() costs
 *                                  against the code heap's size
 *                                  (docs/HEAP.md, "fork()")
 *
 * No assertion depends on speed: every wait here is for an event, and the
 * watchdog (alarm) only turns a deadlock into a failure with its name.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "thread/thread.h"

/* The watchdog (testutil.h) at a bound far above anything a call takes. */
static void watch(const char *what)
{
    test_watchdog(what, 240);
}

static cmodx_xptr visible_fn(cmodx_heap *h, uint32_t v)
{
    cmodx_xptr x = make_fn(h, v);
    REQUIRE(cmodx_make_visible(x, 16) == 0);
    return x;
}

/* ---- kind 1: lock discipline ------------------------------------------------------- */

enum op { OP_FORK, OP_STATS, OP_SYNC_OTHERS, OP_FREE_HOOK, OP_SLOT_INIT_FINI, OP_PUBLISH,
          OP_RETIRE, OP_POLL, OP_ENTRY_LIST, OP_REGISTER_OTHER, OP_CREATE_DURING_FORK, NOPS };
static const char *op_name[NOPS] = {"fork", "cmodx_reclaim_get_stats", "cmodx_sync_others",
                                    "cmodx_debug_set_free_hook", "cmodx_slot_init/fini",
                                    "cmodx_slot_publish", "cmodx_retire", "cmodx_reclaim_poll",
                                    "cmodx_entry_list", "cmodx_thread_register (second domain)",
                                    "cmodx_domain_create/destroy while a fork waits"};

/* A thread that forks while the main thread's grace period holds the
 * domain's writer lock: its prepare handler waits for that lock, holding
 * the process's list of domains. */
static pid_t forker_tid;
static int forker_ready;

static void *forker(void *arg)
{
    (void)arg;
    __atomic_store_n(&forker_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
    __atomic_store_n(&forker_ready, 1, __ATOMIC_RELEASE);
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    if (p > 0)
        waitpid(p, NULL, 0);
    return NULL;
}

/* Whether thread TID is blocked (state S or D in /proc). */
static int blocked(pid_t tid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && (p[2] == 'S' || p[2] == 'D');
}

static struct {
    cmodx_domain *d, *other;
    cmodx_heap *heap;
    cmodx_slot slot;
    enum op op;
    int registered, result;
} L;

static void hook(void *arg, cmodx_xptr b)
{
    (void)arg, (void)b;
}

static void *lock_reader(void *arg)
{
    (void)arg;
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(L.d, &self) == 0);
    __atomic_store_n(&L.registered, 1, __ATOMIC_RELEASE);
    /* Online and never quiescent: the main thread's grace period waits for
     * us.  Go on once it sleeps waiting (an event, not a delay). */
    while (!__atomic_load_n(&L.d->gp_sleeping, __ATOMIC_ACQUIRE))
        usleep(1000);
    int r = -1;
    switch (L.op) {
    case OP_FORK: {
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        r = p > 0 ? child_status(p) : errno;
        break;
    }
    case OP_STATS: {
        struct cmodx_reclaim_stats s;
        memset(&s, 0xff, sizeof s);
        cmodx_reclaim_get_stats(L.d, &s);
        r = s.grace_periods >= 1 && s.waits >= 1 ? 0 : 1; /* the pending one counted */
        break;
    }
    case OP_SYNC_OTHERS:
        r = cmodx_sync_others(L.d);
        break;
    case OP_FREE_HOOK:
        cmodx_debug_set_free_hook(L.d, hook, NULL);
        cmodx_debug_set_free_hook(L.d, NULL, NULL);
        r = 0;
        break;
    case OP_SLOT_INIT_FINI: {
        cmodx_slot s;
        r = cmodx_slot_init(L.d, &s, visible_fn(L.heap, 5));
        if (!r)
            cmodx_slot_fini(&s);
        break;
    }
    case OP_PUBLISH:
        r = cmodx_slot_publish(&L.slot, visible_fn(L.heap, 6), 16, 0, NULL);
        break;
    case OP_RETIRE:
        r = cmodx_retire(L.d, visible_fn(L.heap, 7));
        break;
    case OP_POLL:
        cmodx_reclaim_poll(L.d);
        r = 0;
        break;
    case OP_ENTRY_LIST:
        r = (int)cmodx_entry_list(L.d, NULL, 0);
        break;
    case OP_REGISTER_OTHER:
        r = cmodx_thread_register(L.other, NULL);
        if (!r)
            r = cmodx_thread_unregister(L.other);
        break;
    case OP_CREATE_DURING_FORK: {
        /* The forker holds the list of domains while it waits for the
         * writer lock that the waiting grace period holds; creating (and
         * destroying) a domain takes that list: parked meanwhile. */
        pthread_t f;
        forker_ready = 0;
        REQUIRE(pthread_create(&f, NULL, forker, NULL) == 0);
        while (!__atomic_load_n(&forker_ready, __ATOMIC_ACQUIRE))
            usleep(1000);
        for (int i = 0; i < 2000 && !blocked(__atomic_load_n(&forker_tid, __ATOMIC_ACQUIRE)); i++)
            usleep(1000); /* best effort: the test is weaker, never wrong, if it is not there */
        cmodx_domain *nd;
        r = cmodx_domain_create(NULL, &nd);
        if (!r)
            r = cmodx_domain_destroy(nd);
        cmodx_quiescent(self);
        cmodx_thread_unregister(L.d); /* the fork can go ahead */
        pthread_join(f, NULL);
        __atomic_store_n(&L.result, r, __ATOMIC_RELEASE);
        return NULL;
    }
    default:
        break;
    }
    __atomic_store_n(&L.result, r, __ATOMIC_RELEASE);
    cmodx_quiescent(self); /* lets the grace period end */
    cmodx_thread_unregister(L.d);
    return NULL;
}

static void test_lock(enum cmodx_strategy strategy)
{
    REQUIRE(cmodx_heap_create(NULL, &L.heap) == 0);
    struct cmodx_domain_config c = {.strategy = strategy, .heap = L.heap};
    REQUIRE(cmodx_domain_create(&c, &L.d) == 0);
    REQUIRE(cmodx_domain_create(NULL, &L.other) == 0);
    REQUIRE(cmodx_slot_init(L.d, &L.slot, visible_fn(L.heap, 1)) == 0);
    for (int op = 0; op < NOPS; op++) {
        L.op = (enum op)op;
        L.registered = 0;
        L.result = -1;
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, lock_reader, NULL) == 0);
        while (!__atomic_load_n(&L.registered, __ATOMIC_ACQUIRE))
            usleep(1000);
        watch(op_name[op]);
        /* Without a timeout: only the reader's quiescent state, after its
         * call returned, ends it. */
        CHECK_EQ(cmodx_synchronize(L.d, 0), 0);
        REQUIRE(pthread_join(t, NULL) == 0);
        alarm(0);
        if (L.result != 0)
            fprintf(stderr, "%s: result %d\n", op_name[op], L.result);
        CHECK_EQ(L.result, 0);
    }
    cmodx_slot_fini(&L.slot);
    CHECK_EQ(cmodx_domain_destroy(L.other), 0);
    CHECK_EQ(cmodx_domain_destroy(L.d), 0);
    CHECK_EQ(cmodx_heap_destroy(L.heap), 0);
}

/* ---- kind 2: cancellation ------------------------------------------------------------ */

static struct {
    cmodx_domain *d;
    cmodx_heap *heap;
    cmodx_slot slot;
    int result, returned;
} C;

static void *cancel_writer(void *arg)
{
    (void)arg;
    REQUIRE(cmodx_thread_register(C.d, NULL) == 0);
    /* Waits for the silent thread's acknowledgement (nanosleep, a
     * cancellation point) until the signal timeout. */
    int r = cmodx_slot_publish(&C.slot, visible_fn(C.heap, 2), 16, 0, NULL);
    __atomic_store_n(&C.result, r, __ATOMIC_RELEASE);
    __atomic_store_n(&C.returned, 1, __ATOMIC_RELEASE);
    for (;;)
        pause(); /* a cancellation point: the pending cancel acts here */
    return NULL;
}

static void test_cancel(void)
{
    int sig = SIGRTMIN + 8;
    REQUIRE(cmodx_heap_create(NULL, &C.heap) == 0);
    struct cmodx_domain_config c = {.strategy = CMODX_SYNC_SIGNAL, .signal_number = sig,
                                    .signal_timeout_ms = 300, .heap = C.heap};
    REQUIRE(cmodx_domain_create(&c, &C.d) == 0);
    cmodx_xptr v1 = visible_fn(C.heap, 1);
    REQUIRE(cmodx_slot_init(C.d, &C.slot, v1) == 0);
    struct silent_thread silent;
    silent_start(&silent, C.d, sig);
    uint64_t seq0 = __atomic_load_n(&C.d->sig_seq, __ATOMIC_ACQUIRE);
    pthread_t w;
    REQUIRE(pthread_create(&w, NULL, cancel_writer, NULL) == 0);
    /* Cancel while the writer is inside the acknowledgement wait, with the
     * writer and thread-list locks held: its round has started. */
    while (__atomic_load_n(&C.d->sig_seq, __ATOMIC_ACQUIRE) == seq0)
        usleep(100);
    watch("pthread_cancel during a publish: join");
    REQUIRE(pthread_cancel(w) == 0);
    void *ret = NULL;
    REQUIRE(pthread_join(w, &ret) == 0);
    CHECK(ret == PTHREAD_CANCELED);
    /* The call ran to its end (cancellation deferred past it) and said
     * what happened: the silent thread made it time out. */
    CHECK_EQ(__atomic_load_n(&C.returned, __ATOMIC_ACQUIRE), 1);
    CHECK_EQ(__atomic_load_n(&C.result, __ATOMIC_ACQUIRE), ETIMEDOUT);
    CHECK(C.slot.target == v1.ptr); /* a failed publish switches nothing */
    silent_release(&silent);
    /* No lock was left held: the cancelled thread's exit unregistered it,
     * a publish goes through, the domain can be destroyed. */
    cmodx_xptr v3 = visible_fn(C.heap, 3);
    CHECK_EQ(cmodx_slot_publish(&C.slot, v3, 16, 0, NULL), 0);
    CHECK_EQ(as_fn(v3)(), 3);
    cmodx_slot_fini(&C.slot);
    CHECK_EQ(cmodx_domain_destroy(C.d), 0);
    alarm(0);
    /* Cancellation comes back enabled after a library call. */
    int state = -1;
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &state);
    CHECK_EQ(state, PTHREAD_CANCEL_ENABLE);
}

/* A cancellation already pending when a thread forks: the library's fork
 * handlers copy the heaps with every lock held (cancellation points), so
 * they must not act on it there.  Run in a process with heaps only (mode
 * cancel-fork): no domain's handler parks the thread first. */
static struct {
    cmodx_heap *heap;
    int cancelled, forked;
} K;

static void *forking_thread(void *arg)
{
    (void)arg;
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    __atomic_store_n(&K.forked, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&K.cancelled, __ATOMIC_ACQUIRE))
        usleep(1000);
    /* The cancel is pending; setcancelstate is no cancellation point, nor
     * is fork(), but the handlers' copies would be. */
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    __atomic_store_n(&K.forked, 2, __ATOMIC_RELEASE);
    waitpid(p, NULL, 0); /* a cancellation point: the cancel acts here */
    return NULL;
}

static void cancel_pending_at_fork(void)
{
    REQUIRE(cmodx_heap_create(NULL, &K.heap) == 0);
    cmodx_block b;
    REQUIRE(cmodx_block_alloc(K.heap, 64, &b) == 0); /* data to copy */
    REQUIRE(write_return(&b, 0, 4) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, forking_thread, NULL) == 0);
    while (!__atomic_load_n(&K.forked, __ATOMIC_ACQUIRE))
        usleep(1000);
    REQUIRE(pthread_cancel(t) == 0);
    __atomic_store_n(&K.cancelled, 1, __ATOMIC_RELEASE);
    watch("a fork with a cancellation pending");
    void *ret = NULL;
    REQUIRE(pthread_join(t, &ret) == 0);
    CHECK(ret == PTHREAD_CANCELED);
    CHECK_EQ(__atomic_load_n(&K.forked, __ATOMIC_ACQUIRE), 2); /* fork returned */
    /* No heap lock was left held. */
    cmodx_block c;
    CHECK_EQ(cmodx_block_alloc(K.heap, 64, &c), 0);
    CHECK_EQ(cmodx_heap_destroy(K.heap), 0);
    alarm(0);
}

/* ---- kind 4: fork --------------------------------------------------------------------- */

/* (a) The child's heap is the parent's at the fork, whatever the parent
 * does next: the shared case's interleaving made deterministic by a
 * large second heap (copying it used to give the parent time to reuse
 * the slot's block before the child copied it). */
static void fork_snapshot(enum cmodx_strategy strategy)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    cmodx_heap *h, *big;
    struct cmodx_heap_config hc = {.chunk_bytes = page, .limit_bytes = page};
    REQUIRE(cmodx_heap_create(&hc, &h) == 0);
    struct cmodx_domain_config dc = {.heap = h, .strategy = strategy};
    cmodx_domain *d;
    REQUIRE(cmodx_domain_create(&dc, &d) == 0);
    cmodx_block a;
    REQUIRE(cmodx_block_alloc(h, page / 2, &a) == 0);
    REQUIRE(write_return(&a, 0, 1) == 0);
    cmodx_slot s;
    REQUIRE(cmodx_slot_init(d, &s, a.exec) == 0);
    /* Mostly holes: the snapshot copies only the data (fast), the child's
     * old copy read all of it through the view (slow). */
    REQUIRE(cmodx_heap_create(NULL, &big) == 0);
    cmodx_block bb;
    REQUIRE(cmodx_block_alloc(big, 32u << 20, &bb) == 0);
    memset(bb.write.ptr, 0x5a, 4096);
    memset((unsigned char *)bb.write.ptr + bb.size - 4096, 0x5a, 4096);
    struct cmodx_heap_stats before;
    cmodx_heap_get_stats(h, &before);
    int pipefd[2];
    REQUIRE(pipe(pipefd) == 0);
    fflush(NULL);
    pid_t p = fork();
    REQUIRE(p >= 0);
    if (p == 0) {
        close(pipefd[1]);
        char go;
        /* Wait until the parent reused A's space for other code. */
        if (read(pipefd[0], &go, 1) != 1)
            _exit(3);
        cmodx_thread *self;
        if (cmodx_thread_register(d, &self) != 0)
            _exit(4);
        uint32_t v = CMODX_CALL(uint32_t (*)(void), &s, self);
        struct cmodx_heap_stats now;
        cmodx_heap_get_stats(h, &now);
        int bad = (v != 1) | (now.live_blocks != before.live_blocks) << 1 |
                  (((const unsigned char *)bb.write.ptr)[bb.size - 1] != 0x5a) << 2;
        /* The child's heap is its own: rewriting A here leaves the
         * parent's memory alone (the parent checks). */
        REQUIRE(write_return(&a, 0, 77) == 0);
        _exit(bad);
    }
    close(pipefd[0]);
    /* The parent goes on, correctly: replace A, free it after a grace
     * period, reuse its space for different code. */
    cmodx_block n;
    REQUIRE(cmodx_block_alloc(h, page / 2, &n) == 0);
    REQUIRE(write_return(&n, 0, 2) == 0);
    CHECK_EQ(cmodx_slot_publish(&s, n.exec, 16, CMODX_RETIRE_OLD, NULL), 0);
    CHECK_EQ(cmodx_synchronize(d, 0), 0);
    cmodx_block reuse;
    REQUIRE(cmodx_block_alloc(h, page / 2, &reuse) == 0);
    CHECK(reuse.exec.ptr == a.exec.ptr); /* the interleaving the test is about */
    REQUIRE(write_return(&reuse, 0, 666) == 0);
    REQUIRE(write(pipefd[1], "g", 1) == 1);
    close(pipefd[1]);
    CHECK_EQ(child_status(p), 0);
    CHECK_EQ(as_fn(reuse.exec)(), 666); /* the child's write stayed in the child */
    CHECK(cmodx_slot_target_plain(&s) == n.exec.ptr);
    cmodx_slot_fini(&s);
    CHECK_EQ(cmodx_domain_destroy(d), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
    CHECK_EQ(cmodx_heap_destroy(big), 0);
}

/* (b) Forks while writers publish with CMODX_RETIRE_OLD, free, reuse: no
 * child may see a slot whose block holds another slot's code or trap fill. */
#define FSLOTS 8
static struct {
    cmodx_domain *d;
    cmodx_heap *h;
    cmodx_slot slots[FSLOTS];
    int stop;
} F;

static cmodx_xptr tagged_fn(uint32_t slot, uint32_t version)
{
    cmodx_block b;
    while (cmodx_block_alloc(F.h, 64, &b) != 0)
        cmodx_synchronize(F.d, 0); /* heap full: let retired blocks go */
    REQUIRE(cmodx_emit_return_u32(b.write, b.size, slot << 16 | (version & 0xffff)) > 0);
    return b.exec;
}

static void *fork_writer(void *arg)
{
    uint32_t first = (uint32_t)(uintptr_t)arg, version = 1;
    while (!__atomic_load_n(&F.stop, __ATOMIC_ACQUIRE)) {
        for (uint32_t i = first; i < FSLOTS; i += 2) {
            cmodx_xptr x = tagged_fn(i, version);
            int err = cmodx_slot_publish(&F.slots[i], x, 16, CMODX_RETIRE_OLD, NULL);
            REQUIRE(err == 0);
        }
        cmodx_synchronize(F.d, 0);
        version++;
    }
    return NULL;
}

static void fork_under_writers(enum cmodx_strategy strategy)
{
    struct cmodx_heap_config hc = {.limit_bytes = 256u << 10};
    REQUIRE(cmodx_heap_create(&hc, &F.h) == 0);
    struct cmodx_domain_config dc = {.heap = F.h, .strategy = strategy};
    REQUIRE(cmodx_domain_create(&dc, &F.d) == 0);
    for (uint32_t i = 0; i < FSLOTS; i++) {
        cmodx_xptr x = tagged_fn(i, 0);
        REQUIRE(cmodx_make_visible(x, 16) == 0);
        REQUIRE(cmodx_slot_init(F.d, &F.slots[i], x) == 0);
    }
    pthread_t w[2];
    for (uintptr_t i = 0; i < 2; i++)
        REQUIRE(pthread_create(&w[i], NULL, fork_writer, (void *)i) == 0);
    int bad = 0;
    for (int k = 0; k < 16; k++) {
        fflush(NULL);
        pid_t p = fork();
        REQUIRE(p >= 0);
        if (p == 0) {
            cmodx_thread *self;
            if (cmodx_thread_register(F.d, &self) != 0)
                _exit(2);
            int wrong = 0;
            for (uint32_t i = 0; i < FSLOTS; i++) {
                uint32_t v = CMODX_CALL(uint32_t (*)(void), &F.slots[i], self);
                wrong |= (v >> 16) != i;
            }
            /* The child's heap works on its own: publish and reclaim. */
            cmodx_xptr x = tagged_fn(0, 0xffff);
            wrong |= cmodx_slot_publish(&F.slots[0], x, 16, CMODX_RETIRE_OLD, NULL) != 0;
            cmodx_quiescent(self);
            wrong |= cmodx_synchronize(F.d, 0) != 0;
            wrong |= CMODX_CALL(uint32_t (*)(void), &F.slots[0], self) != 0xffff;
            _exit(wrong);
        }
        int st = child_status(p);
        if (st)
            fprintf(stderr, "fork %d: child status %d\n", k, st);
        bad += st != 0;
    }
    __atomic_store_n(&F.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(w[i], NULL);
    CHECK_EQ(bad, 0);
    for (uint32_t i = 0; i < FSLOTS; i++)
        cmodx_slot_fini(&F.slots[i]);
    CHECK_EQ(cmodx_domain_destroy(F.d), 0);
    CHECK_EQ(cmodx_heap_destroy(F.h), 0);
}

/* The blocks allocated to the memfd of size SIZE named cmodx-code, or -1. */
static long long memfd_blocks(off_t size)
{
    DIR *dir = opendir("/proc/self/fd");
    long long blocks = -1;
    struct dirent *e;
    while (dir && (e = readdir(dir)) != NULL) {
        char path[300], link[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n <= 0)
            continue;
        link[n] = 0;
        struct stat st;
        if (strstr(link, "cmodx-code") && stat(path, &st) == 0 && st.st_size == size)
            blocks = (long long)st.st_blocks;
    }
    if (dir)
        closedir(dir);
    return blocks;
}

/* (c) Taking the snapshot populates nothing in the parent: a chunk of
 * which one block is written keeps its holes. */
static void fork_keeps_holes(void)
{
    size_t chunk = 8u << 20;
    cmodx_heap *h;
    struct cmodx_heap_config hc = {.chunk_bytes = chunk};
    REQUIRE(cmodx_heap_create(&hc, &h) == 0);
    cmodx_block b;
    REQUIRE(cmodx_block_alloc(h, 64, &b) == 0);
    REQUIRE(write_return(&b, 0, 9) == 0);
    long long before = memfd_blocks((off_t)chunk);
    if (before < 0) {
        printf("fork holes: the heap's memfd is not visible in /proc/self/fd here; skipped\n");
        cmodx_heap_destroy(h);
        return;
    }
    pid_t p = fork();
    REQUIRE(p >= 0);
    if (p == 0)
        _exit(as_fn(b.exec)() == 9 ? 0 : 1);
    CHECK_EQ(child_status(p), 0);
    long long after = memfd_blocks((off_t)chunk);
    if (after != before)
        fprintf(stderr, "fork populated the parent's heap: %lld -> %lld blocks\n", before, after);
    CHECK_EQ(after, before);
    CHECK(before < (long long)(chunk / 512 / 4)); /* far from fully populated */
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

/* (d) A chunk of 2 GiB or more (one pwrite cannot copy it, and holes
 * need not be copied at all): the child runs its code. */
static void fork_big_chunk(void)
{
    if (sizeof(void *) < 8) {
        printf("fork big chunk: 32-bit address space, skipped\n");
        return;
    }
    size_t chunk = ((size_t)2 << 30) + ((size_t)1 << 20);
    cmodx_heap *h = NULL;
    struct cmodx_heap_config hc = {.chunk_bytes = chunk};
    int err = cmodx_heap_create(&hc, &h);
    cmodx_block b;
    if (!err)
        err = cmodx_block_alloc(h, 64, &b);
    if (err == ENOMEM) {
        printf("fork big chunk: cannot map 2 GiB here (%s); skipped\n", cmodx_last_error());
        if (h)
            cmodx_heap_destroy(h);
        return;
    }
    REQUIRE(err == 0);
    REQUIRE(write_return(&b, 0, 11) == 0);
    pid_t p = fork();
    REQUIRE(p >= 0);
    if (p == 0)
        _exit(as_fn(b.exec)() == 11 ? 0 : 1);
    CHECK_EQ(child_status(p), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

static double now_us(void);

static void test_fork(enum cmodx_strategy strategy)
{
    double t0 = now_us();
    watch("fork snapshot");
    fork_snapshot(strategy);
    printf("fork snapshot: %.0f ms\n", (now_us() - t0) / 1e3);
    watch("fork under writers");
    fork_under_writers(strategy);
    printf("fork under writers: %.0f ms\n", (now_us() - t0) / 1e3);
    watch("fork holes");
    fork_keeps_holes();
    printf("fork holes: %.0f ms\n", (now_us() - t0) / 1e3);
    watch("fork big chunk");
    fork_big_chunk();
    printf("fork big chunk: %.0f ms\n", (now_us() - t0) / 1e3);
    alarm(0);
}

/* ---- kind 5: the signal strategy -------------------------------------------------------- */

static int fit_signal(int sig)
{
    return sig == SIGUSR1 || sig == SIGUSR2 || (sig >= SIGRTMIN && sig <= SIGRTMIN + 4);
}

static void signal_numbers(void)
{
    for (int sig = 1; sig < SIGRTMIN + 5; sig++) {
        struct sigaction before, after;
        sigaction(sig, NULL, &before);
        struct cmodx_domain_config c = {.strategy = CMODX_SYNC_SIGNAL, .signal_number = sig};
        cmodx_domain *d = NULL;
        int err = cmodx_domain_create(&c, &d);
        if (fit_signal(sig)) {
            if (err)
                fprintf(stderr, "signal %d refused: %s\n", sig, cmodx_last_error());
            CHECK_EQ(err, 0);
            if (!err)
                CHECK_EQ(cmodx_domain_destroy(d), 0);
        } else {
            if (err != EINVAL)
                fprintf(stderr, "signal %d (%s) accepted\n", sig, strsignal(sig));
            CHECK_EQ(err, EINVAL);
            if (err == 0)
                cmodx_domain_destroy(d);
            else
                CHECK(strstr(cmodx_last_error(), "cannot carry the signal strategy") != NULL);
            sigaction(sig, NULL, &after);
            CHECK(after.sa_handler == before.sa_handler); /* untouched */
        }
    }
}

static struct {
    cmodx_domain *d;
    int sig, phase, pending_after_destroy, alive;
} P;

static void *pending_thread(void *arg)
{
    (void)arg;
    REQUIRE(cmodx_thread_register(P.d, NULL) == 0);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, P.sig);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    __atomic_store_n(&P.phase, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&P.phase, __ATOMIC_ACQUIRE) < 2)
        usleep(1000);
    cmodx_thread_unregister(P.d);
    __atomic_store_n(&P.phase, 3, __ATOMIC_RELEASE);
    while (__atomic_load_n(&P.phase, __ATOMIC_ACQUIRE) < 4)
        usleep(1000);
    sigset_t pend;
    sigpending(&pend);
    P.pending_after_destroy = sigismember(&pend, P.sig);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL); /* the default action would kill us */
    P.alive = 1;
    return NULL;
}

static void signal_pending_after_timeout(void)
{
    P.sig = SIGRTMIN + 4;
    cmodx_heap *h;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    struct cmodx_domain_config c = {.strategy = CMODX_SYNC_SIGNAL, .signal_number = P.sig,
                                    .signal_timeout_ms = 100, .heap = h};
    REQUIRE(cmodx_domain_create(&c, &P.d) == 0);
    cmodx_slot slot;
    REQUIRE(cmodx_slot_init(P.d, &slot, visible_fn(h, 1)) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, pending_thread, NULL) == 0);
    while (__atomic_load_n(&P.phase, __ATOMIC_ACQUIRE) < 1)
        usleep(1000);
    /* The thread blocks the signal: the documented timeout, and the signal
     * stays pending in it. */
    CHECK_EQ(cmodx_slot_publish(&slot, visible_fn(h, 2), 16, 0, NULL), ETIMEDOUT);
    __atomic_store_n(&P.phase, 2, __ATOMIC_RELEASE);
    while (__atomic_load_n(&P.phase, __ATOMIC_ACQUIRE) < 3)
        usleep(1000);
    cmodx_slot_fini(&slot);
    CHECK_EQ(cmodx_domain_destroy(P.d), 0);
    struct sigaction now;
    sigaction(P.sig, NULL, &now);
    CHECK(now.sa_handler == SIG_DFL); /* the previous action, restored */
    __atomic_store_n(&P.phase, 4, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    CHECK_EQ(P.pending_after_destroy, 0);
    CHECK_EQ(P.alive, 1);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

static void test_signal(void)
{
    watch("signal numbers");
    signal_numbers();
    watch("signal pending after a timed-out publish");
    signal_pending_after_timeout();
    alarm(0);
}

/* ---- kind 6: membarrier failing later ------------------------------------------------------ */

static struct {
    cmodx_domain *d;
    int go, stop;
} M;

/* Online; announces only after the writer sleeps (so the writer's sleep
 * phase, whose fence is a membarrier with asymmetric fences, runs). */
static void *late_reader(void *arg)
{
    (void)arg;
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(M.d, &self) == 0);
    __atomic_store_n(&M.go, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&M.stop, __ATOMIC_ACQUIRE)) {
        if (__atomic_load_n(&M.d->gp_sleeping, __ATOMIC_ACQUIRE))
            cmodx_quiescent(self);
        usleep(200);
    }
    cmodx_thread_unregister(M.d);
    return NULL;
}

static void test_membarrier_later(void)
{
    cmodx_heap *h;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    struct cmodx_domain_config c = {.strategy = CMODX_SYNC_EPOCH, .heap = h};
    REQUIRE(cmodx_domain_create(&c, &M.d) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, late_reader, NULL) == 0);
    while (!__atomic_load_n(&M.go, __ATOMIC_ACQUIRE))
        usleep(1000);
    watch("cmodx_synchronize with membarrier failing");
    CHECK_EQ(cmodx_retire(M.d, visible_fn(h, 1)), 0);
    cmodx_debug_set_faults(CMODX_FAULT_MEMBARRIER_LATER);
    struct cmodx_reclaim_stats s0, s1;
    cmodx_reclaim_get_stats(M.d, &s0);
    int err = cmodx_synchronize(M.d, 0);
    cmodx_reclaim_get_stats(M.d, &s1);
    /* x86-64 is the one TSO architecture (src/arch/arch.h): there a grace
     * period starts without membarrier. */
    int tso = strcmp(cmodx_arch_name(), "x86_64") == 0;
    printf("membarrier failing later: asymmetric fences %d, TSO %d, synchronize -> %d\n",
           M.d->asym_fences, tso, err);
    if (M.d->asym_fences && !tso) {
        /* Readers run no fence; the grace period cannot start: the error,
         * and the block stays pending. */
        CHECK_EQ(err, ENOMEM);
        CHECK(strstr(cmodx_last_error(), "membarrier failed") != NULL);
        CHECK_EQ(s1.freed_blocks, s0.freed_blocks);
        CHECK_EQ(s1.pending_blocks, 1);
    } else {
        /* No membarrier needed to start one (symmetric fences, or TSO);
         * the sleep phase's fence fails and the writer polls instead. */
        CHECK_EQ(err, 0);
        CHECK_EQ(s1.pending_blocks, 0);
    }
    if (M.d->sync_core) {
        /* The membarrier strategy's publish fails with the error and
         * switches nothing. */
        cmodx_domain *md;
        struct cmodx_domain_config mc = {.strategy = CMODX_SYNC_MEMBARRIER, .heap = h};
        cmodx_debug_set_faults(0);
        REQUIRE(cmodx_domain_create(&mc, &md) == 0);
        cmodx_slot slot;
        cmodx_xptr v1 = visible_fn(h, 1);
        REQUIRE(cmodx_slot_init(md, &slot, v1) == 0);
        cmodx_debug_set_faults(CMODX_FAULT_MEMBARRIER_LATER);
        CHECK_EQ(cmodx_slot_publish(&slot, visible_fn(h, 2), 16, 0, NULL), ENOMEM);
        CHECK(cmodx_slot_target_plain(&slot) == v1.ptr);
        cmodx_slot_fini(&slot);
        cmodx_debug_set_faults(0);
        CHECK_EQ(cmodx_domain_destroy(md), 0);
    }
    /* Once membarrier works again, everything proceeds. */
    cmodx_debug_set_faults(0);
    CHECK_EQ(cmodx_synchronize(M.d, 0), 0);
    cmodx_reclaim_get_stats(M.d, &s1);
    CHECK_EQ(s1.pending_blocks, 0);
    __atomic_store_n(&M.stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    alarm(0);
    CHECK_EQ(cmodx_domain_destroy(M.d), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

/* ---- measurement (not a test): fork cost against heap size ------------------------------ */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median time of fork() in the parent (until it returns there) and of
 * fork + the child's _exit + waitpid, over REPS forks. */
static void fork_time(int reps, double *fork_us, double *round_us)
{
    double f[64], r[64];
    for (int i = 0; i < reps; i++) {
        double t0 = now_us();
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        double t1 = now_us();
        waitpid(p, NULL, 0);
        f[i] = t1 - t0;
        r[i] = now_us() - t0;
    }
    qsort(f, (size_t)reps, sizeof f[0], cmp_double);
    qsort(r, (size_t)reps, sizeof r[0], cmp_double);
    *fork_us = f[reps / 2];
    *round_us = r[reps / 2];
}

/* test_lifecycle forkcost: prints a table (docs/HEAP.md, "fork()"). */
static void fork_cost(void)
{
    const int reps = 21;
    double f, r;
    printf("| heap | data written | fork() in the parent, median us | fork + exit + wait, median us |\n");
    printf("|---|---|---|---|\n");
    fork_time(reps, &f, &r);
    printf("| none | - | %.0f | %.0f |\n", f, r);
    size_t mib = 1u << 20;
    size_t sizes[] = {1, 16, 64, 256};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        /* The same memory as anonymous pages, without a heap: the floor. */
        unsigned char *anon = malloc(sizes[i] * mib);
        REQUIRE(anon);
        memset(anon, 0xcc, sizes[i] * mib);
        fork_time(reps, &f, &r);
        printf("| none, %zu MiB of malloc'd memory touched | - | %.0f | %.0f |\n", sizes[i], f, r);
        free(anon);
        cmodx_heap *h;
        struct cmodx_heap_config hc = {.chunk_bytes = sizes[i] * mib};
        REQUIRE(cmodx_heap_create(&hc, &h) == 0);
        cmodx_block b;
        REQUIRE(cmodx_block_alloc(h, sizes[i] * mib - 4096, &b) == 0);
        memset(b.write.ptr, 0xcc, b.size);
        fork_time(reps, &f, &r);
        printf("| one chunk of %zu MiB | %zu MiB | %.0f | %.0f |\n", sizes[i], sizes[i], f, r);
        cmodx_heap_destroy(h);
        REQUIRE(cmodx_heap_create(&hc, &h) == 0);
        REQUIRE(cmodx_block_alloc(h, 64 << 10, &b) == 0);
        memset(b.write.ptr, 0xcc, b.size);
        fork_time(reps, &f, &r);
        printf("| one chunk of %zu MiB | 64 KiB (the rest holes) | %.0f | %.0f |\n", sizes[i], f, r);
        cmodx_heap_destroy(h);
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "lock";
    int s = cmodx_strategy_parse(argc > 2 ? argv[2] : "epoch");
    REQUIRE(s >= 0);
    enum cmodx_strategy strategy = (enum cmodx_strategy)s;
    if (!strcmp(mode, "lock"))
        test_lock(strategy);
    else if (!strcmp(mode, "cancel"))
        test_cancel();
    else if (!strcmp(mode, "cancel-fork"))
        cancel_pending_at_fork();
    else if (!strcmp(mode, "fork"))
        test_fork(strategy);
    else if (!strcmp(mode, "signal"))
        test_signal();
    else if (!strcmp(mode, "membarrier"))
        test_membarrier_later();
    else if (!strcmp(mode, "forkcost"))
        fork_cost(); /* a measurement, not a test: no ctest entry */
    else
        REQUIRE(!"mode: lock, cancel, fork, signal or membarrier");
    return check_finish("test_lifecycle");
}
