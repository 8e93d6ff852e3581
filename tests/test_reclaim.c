#define _GNU_SOURCE
/* Reclamation: a retired block is never freed while a thread that saw it
 * is between quiescent states (checked by the free hook); grace periods
 * progress with offline and exited threads; the retired-memory bound holds
 * under a writer faster than its readers; timeouts name the thread; fork;
 * signal handlers that call through slots.
 * usage: test_reclaim STRATEGY [symmetric] */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"
#include "thread/thread.h" /* the domain's gp_waiting (test_memory_bound) */

#define READERS 4

static enum cmodx_strategy strategy;
static unsigned domain_flags;
static cmodx_heap *heap;
static cmodx_domain *dom;
static cmodx_slot slot;
static int stop;


static void new_domain(size_t retired_limit, unsigned grace_timeout_ms)
{
    struct cmodx_domain_config c = {.strategy = strategy, .heap = heap,
                                    .retired_limit_bytes = retired_limit,
                                    .grace_timeout_ms = grace_timeout_ms,
                                    .flags = domain_flags};
    REQUIRE(cmodx_domain_create(&c, &dom) == 0);
    cmodx_xptr v0 = make_fn(heap, 0);
    REQUIRE(cmodx_make_visible(v0, 16) == 0);
    REQUIRE(cmodx_slot_init(dom, &slot, v0) == 0);
    __atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
}

static void end_domain(void)
{
    cmodx_slot_fini(&slot);
    CHECK(synchronize_retrying(dom, 10000) == 0);
    CHECK(cmodx_domain_destroy(dom) == 0);
}

/* ---- 1. never freed under a reader --------------------------------------- */

static const void *inside[READERS]; /* block each reader may be running */
static unsigned long violations, hook_calls;

static void free_hook(void *arg, cmodx_xptr block)
{
    (void)arg;
    hook_calls++;
    for (int i = 0; i < READERS; i++)
        if (__atomic_load_n(&inside[i], __ATOMIC_SEQ_CST) == block.ptr)
            violations++;
}

static void *reader(void *arg)
{
    int me = (int)(intptr_t)arg;
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(dom, &self) == 0);
    for (unsigned long n = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); n++) {
        const void *t = cmodx_slot_target(&slot, self);
        /* Announce the block before running it; a seq_cst store pairs with
         * the hook's seq_cst load through our later quiescent state. */
        __atomic_store_n(&inside[me], t, __ATOMIC_SEQ_CST);
        uint32_t v = ((ret_fn)(uintptr_t)t)();
        (void)v;
        if (n % 3 == 0) /* stay in a few calls between quiescent states */
            continue;
        __atomic_store_n(&inside[me], NULL, __ATOMIC_SEQ_CST);
        cmodx_quiescent(self);
    }
    __atomic_store_n(&inside[me], NULL, __ATOMIC_SEQ_CST);
    cmodx_thread_unregister(dom);
    return NULL;
}

static void test_never_freed_under_reader(void)
{
    new_domain(64 * 1024, 10000);
    cmodx_debug_set_free_hook(dom, free_hook, NULL);
    pthread_t th[READERS];
    for (intptr_t i = 0; i < READERS; i++)
        pthread_create(&th[i], NULL, reader, (void *)i);
    for (uint32_t v = 1; v <= 1500; v++)
        REQUIRE(publish_retrying(&slot, make_fn(heap, v), 16, CMODX_RETIRE_OLD, NULL) == 0);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < READERS; i++)
        pthread_join(th[i], NULL);
    end_domain();
    CHECK_EQ(violations, 0);
    CHECK(hook_calls > 1000);
}

/* ---- 2. offline and exited threads do not hold grace periods --------------- */

static void *goes_offline_forever(void *arg)
{
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(dom, &self) == 0);
    cmodx_thread_offline(self);
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
        usleep(1000);
    return arg; /* exits registered (offline) */
}

static void *exits_registered(void *arg)
{
    REQUIRE(cmodx_thread_register(dom, NULL) == 0);
    return arg; /* online, never quiescent, gone */
}

static void test_offline_and_exited(void)
{
    new_domain(0, 10000);
    pthread_t a, b;
    pthread_create(&a, NULL, goes_offline_forever, NULL);
    pthread_create(&b, NULL, exits_registered, NULL);
    pthread_join(b, NULL);
    usleep(20000);
    for (uint32_t v = 1; v <= 50; v++)
        CHECK(publish_retrying(&slot, make_fn(heap, v), 16, CMODX_RETIRE_OLD, NULL) == 0);
    CHECK(synchronize_retrying(dom, 2000) == 0);
    struct cmodx_reclaim_stats rs;
    cmodx_reclaim_get_stats(dom, &rs);
    CHECK_EQ(rs.pending_blocks, 0);
    CHECK_EQ(rs.freed_blocks, 50);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(a, NULL);
    end_domain();
}

/* ---- 3. the retired-memory bound, and timeouts naming the thread ------------ */

static int slow_registered;

static void *slow_reader(void *arg)
{
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(dom, &self) == 0);
    __atomic_fetch_add(&slow_registered, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        /* Busy (a sleep would be cut short by the signal strategy) and
         * not quiescent until a writer waits for this reader (it raises
         * the domain's gp_waiting before it sleeps): only the retired-
         * memory limit makes a writer wait here, so the limit is reached
         * before every announcement, however fast or slow the machine.
         * (A hold of 50 ms let a loaded machine's slow publishes span it:
         * grace periods completed, the limit was never reached, and the
         * test saw no back-pressure wait.) */
        while (!__atomic_load_n(&dom->gp_waiting, __ATOMIC_ACQUIRE) &&
               !__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
            (void)CMODX_CALL(ret_fn, &slot, self);
        cmodx_quiescent(self);
    }
    cmodx_thread_unregister(dom);
    return arg;
}

static void test_memory_bound(void)
{
    const size_t limit = 1024;
    new_domain(limit, 10000);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, slow_reader, NULL);
    while (__atomic_load_n(&slow_registered, __ATOMIC_ACQUIRE) < 2)
        usleep(1000); /* the readers hold grace periods from now on */
    size_t worst = 0;
    for (uint32_t v = 1; v <= 300; v++) {
        REQUIRE(publish_retrying(&slot, make_fn(heap, v), 16, CMODX_RETIRE_OLD, NULL) == 0);
        struct cmodx_reclaim_stats rs;
        cmodx_reclaim_get_stats(dom, &rs);
        if (rs.pending_bytes > worst)
            worst = rs.pending_bytes;
    }
    struct cmodx_reclaim_stats rs;
    cmodx_reclaim_get_stats(dom, &rs);
    printf("memory bound: limit %zu, worst pending %zu, back-pressure waits %llu\n", limit, worst,
           (unsigned long long)rs.backpressure_waits);
    CHECK(worst <= limit);
    CHECK(rs.backpressure_waits > 0);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    end_domain();
}

static pid_t stuck_tid;

static void *never_quiescent(void *arg)
{
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(dom, &self) == 0);
    __atomic_store_n(&stuck_tid, gettid(), __ATOMIC_RELEASE);
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
        (void)CMODX_CALL(ret_fn, &slot, self); /* online, never quiescent */
    cmodx_quiescent(self);
    cmodx_thread_unregister(dom);
    return arg;
}

static void test_timeout_names_thread(void)
{
    new_domain(4096, 300);
    pthread_t th;
    pthread_create(&th, NULL, never_quiescent, NULL);
    while (!__atomic_load_n(&stuck_tid, __ATOMIC_ACQUIRE))
        usleep(1000);
    char want[32];
    snprintf(want, sizeof want, "thread %d", (int)stuck_tid);
    CHECK_EQ(cmodx_synchronize(dom, 200), ETIMEDOUT);
    CHECK(strstr(cmodx_last_error(), want) != NULL);
    /* Back-pressure that cannot be relieved: publish fails, slot unchanged. */
    int err = 0;
    uint32_t v;
    for (v = 1; v < 200 && !err; v++)
        err = cmodx_slot_publish(&slot, make_fn(heap, v), 16, CMODX_RETIRE_OLD, NULL);
    CHECK_EQ(err, ETIMEDOUT);
    CHECK(strstr(cmodx_last_error(), want) != NULL);
    CHECK(cmodx_slot_target_plain(&slot) != NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    end_domain();
}

/* ---- 4. fork: the child gets a usable single-threaded domain ----------------- */

static void test_fork(void)
{
    new_domain(0, 2000);
    pthread_t th;
    stuck_tid = 0;
    pthread_create(&th, NULL, never_quiescent, NULL); /* would block the child's gp */
    while (!__atomic_load_n(&stuck_tid, __ATOMIC_ACQUIRE))
        usleep(1000);
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(dom, &self) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        int bad = 0;
        for (uint32_t v = 1; v <= 20; v++) {
            bad |= publish_retrying(&slot, make_fn(heap, 100 + v), 16, CMODX_RETIRE_OLD, NULL) != 0;
            bad |= CMODX_CALL(ret_fn, &slot, self) != 100 + v;
            cmodx_quiescent(self);
        }
        bad |= synchronize_retrying(dom, 2000) != 0;
        struct cmodx_reclaim_stats rs;
        cmodx_reclaim_get_stats(dom, &rs);
        bad |= rs.pending_blocks != 0;
        cmodx_slot_fini(&slot);
        bad |= cmodx_domain_destroy(dom) != 0; /* only this thread is left */
        _exit(bad);
    }
    REQUIRE(pid > 0);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cmodx_thread_unregister(dom);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    end_domain();
}

/* ---- 5. signal handlers that call through slots ------------------------------- */

static cmodx_thread *handler_self;
static volatile sig_atomic_t handler_calls, handler_bad;
static uint32_t newest;

static void on_usr1(int sig)
{
    (void)sig;
    /* Runs inside the interrupted thread's read side: same record, and
     * the thread is not at a quiescent state, so no announcement here. */
    uint32_t v = CMODX_CALL(ret_fn, &slot, handler_self);
    if (v > __atomic_load_n(&newest, __ATOMIC_ACQUIRE))
        handler_bad = handler_bad + 1;
    handler_calls = handler_calls + 1;
}

static pid_t handler_tid;

static void *handler_thread(void *arg)
{
    REQUIRE(cmodx_thread_register(dom, &handler_self) == 0);
    __atomic_store_n(&handler_tid, gettid(), __ATOMIC_RELEASE);
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        (void)CMODX_CALL(ret_fn, &slot, handler_self);
        cmodx_quiescent(handler_self);
    }
    cmodx_thread_unregister(dom);
    return arg;
}

static void test_signal_handler_calls(void)
{
    new_domain(0, 5000);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t th;
    pthread_create(&th, NULL, handler_thread, NULL);
    while (!__atomic_load_n(&handler_tid, __ATOMIC_ACQUIRE))
        usleep(1000);
    for (uint32_t v = 1; v <= 300; v++) {
        __atomic_store_n(&newest, v, __ATOMIC_RELEASE);
        REQUIRE(publish_retrying(&slot, make_fn(heap, v), 16, CMODX_RETIRE_OLD, NULL) == 0);
        pthread_kill(th, SIGUSR1);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    signal(SIGUSR1, SIG_DFL);
    CHECK(handler_calls > 0);
    CHECK_EQ(handler_bad, 0);
    end_domain();
}

int main(int argc, char **argv)
{
    int s = cmodx_strategy_parse(argc > 1 ? argv[1] : "auto");
    REQUIRE(s >= 0);
    strategy = (enum cmodx_strategy)s;
    if (argc > 2 && strcmp(argv[2], "symmetric") == 0)
        domain_flags = CMODX_DOMAIN_SYMMETRIC_FENCES;
    struct cmodx_heap_config hc = {.chunk_bytes = 256 * 1024};
    REQUIRE(cmodx_heap_create(&hc, &heap) == 0);
    test_never_freed_under_reader();
    test_offline_and_exited();
    test_memory_bound();
    test_timeout_names_thread();
    test_fork();
    test_signal_handler_calls();
    cmodx_heap_destroy(heap);
    return check_finish("test_reclaim");
}
