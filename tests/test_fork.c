/* tests/test_fork.c - fork in a process that uses cmodx.
 *
 *   test_fork heap      a process with heaps and no domain: the child gets
 *                       its own copy of the code (it rewrites and frees a
 *                       block; the parent's block is unchanged);
 *   test_fork writers   a domain created before the first heap, then
 *                       forks while a writer publishes and retires: the
 *                       library's fork steps take every domain's locks
 *                       before every heap's whatever the order in which
 *                       the objects were created, so neither side
 *                       deadlocks, and the child can publish.
 * A hang fails by SIGALRM. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "cmodx/cmodx.h"
#include "testutil.h"

/* ---- heaps only --------------------------------------------------------------- */

static void test_heap_only(void)
{
    cmodx_heap *h1, *h2;
    REQUIRE(cmodx_heap_create(NULL, &h1) == 0);
    REQUIRE(cmodx_heap_create(NULL, &h2) == 0);
    cmodx_block a = block_returning(h1, 1), b = block_returning(h2, 2);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(30);
        int bad = 0;
        /* Rewrite A in place and free B: in the parent's memory this would
         * change A and trap-fill B. */
        bad |= cmodx_emit_return_u32(a.write, a.size, 101) == 0;
        bad |= cmodx_make_visible(a.exec, a.size) != 0;
        bad |= as_fn(a.exec)() != 101;
        bad |= cmodx_block_free(h2, b.exec) != 0;
        cmodx_block c = block_returning(h2, 102);
        bad |= as_fn(c.exec)() != 102;
        _exit(bad);
    }
    CHECK_EQ(child_status(pid), 0);
    CHECK_EQ(as_fn(a.exec)(), 1);
    CHECK_EQ(as_fn(b.exec)(), 2);
    CHECK_EQ(cmodx_block_free(h2, b.exec), 0);
    cmodx_heap_destroy(h2);
    cmodx_heap_destroy(h1);
}

/* ---- forks while a writer works ------------------------------------------------- */

static cmodx_domain *dom;
static cmodx_heap *heap;
static cmodx_slot slot;
static int stop;

static void *writer(void *arg)
{
    (void)arg;
    for (uint32_t v = 1000; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); v++) {
        cmodx_block b = block_returning(heap, v);
        REQUIRE(cmodx_slot_publish(&slot, b.exec, b.size, CMODX_RETIRE_OLD, NULL) == 0);
        cmodx_reclaim_poll(dom);
    }
    return NULL;
}

static void test_forks_while_writing(void)
{
    /* The domain first, with no heap: its fork steps register before any
     * heap's.  Then the heap, and a second domain that uses it. */
    cmodx_domain *empty;
    REQUIRE(cmodx_domain_create(NULL, &empty) == 0);
    REQUIRE(cmodx_heap_create(NULL, &heap) == 0);
    struct cmodx_domain_config cfg = {.heap = heap};
    REQUIRE(cmodx_domain_create(&cfg, &dom) == 0);
    cmodx_block first = block_returning(heap, 999);
    REQUIRE(cmodx_slot_init(dom, &slot, first.exec) == 0);
    pthread_t w;
    REQUIRE(pthread_create(&w, NULL, writer, NULL) == 0);
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            alarm(30);
            int bad = 0;
            cmodx_thread *self;
            bad |= cmodx_thread_register(dom, &self) != 0;
            cmodx_block b = block_returning(heap, 7);
            bad |= cmodx_slot_publish(&slot, b.exec, b.size, CMODX_RETIRE_OLD, NULL) != 0;
            bad |= CMODX_CALL(ret_fn, &slot, self) != 7;
            cmodx_quiescent(self);
            bad |= cmodx_synchronize(dom, 2000) != 0;
            _exit(bad);
        }
        CHECK_EQ(child_status(pid), 0);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(w, NULL);
    cmodx_slot_fini(&slot);
    CHECK_EQ(cmodx_domain_destroy(dom), 0);
    CHECK_EQ(cmodx_domain_destroy(empty), 0);
    cmodx_heap_destroy(heap);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    alarm(120); /* a deadlock at fork fails here rather than at ctest's timeout */
    if (strcmp(mode, "heap") == 0)
        test_heap_only();
    else if (strcmp(mode, "writers") == 0)
        test_forks_while_writing();
    else
        REQUIRE(!"usage: test_fork heap|writers");
    return check_finish(mode);
}
