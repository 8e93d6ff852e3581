/* tests/test_blocks.c - the block lifecycle and ownership, bounds, object
 * lifetimes and error lists (issue 12, kinds 3, 7, 8, 9).
 *
 *   test_blocks [lifecycle|ownership|addresses|slots|lifetime|bounds|errors|trapfill]
 *
 * Without an argument every part runs.  Each check asserts the value the
 * header comments document: a second retirement of a pending block is
 * EINVAL and nothing is freed twice; CMODX_RETIRE_OLD retires the block
 * holding the old target once no slot of the domain targets it; slot init,
 * publish and batches refuse write-view addresses, free or pending space
 * and lengths past the block; failed and finished slots are unusable;
 * destroy refuses while dependents exist; every size and count of the
 * configurations is bounded; failed calls leave out-parameters defined. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#include "testutil.h"

/* ---- a reader that stays online and announces only when told ------------- */

struct pin {
    pthread_t th;
    cmodx_domain *d;
    int cmd, done; /* atomic: requests and acknowledgements */
};

static void *pin_main(void *arg)
{
    struct pin *p = arg;
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(p->d, &self) == 0);
    __atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
    for (;;) {
        int c = __atomic_load_n(&p->cmd, __ATOMIC_ACQUIRE);
        if (c < 0)
            break;
        if (c > __atomic_load_n(&p->done, __ATOMIC_ACQUIRE)) {
            cmodx_quiescent(self);
            __atomic_store_n(&p->done, c, __ATOMIC_RELEASE);
        }
        usleep(100);
    }
    cmodx_thread_unregister(p->d);
    return NULL;
}

static void pin_start(struct pin *p, cmodx_domain *d)
{
    memset(p, 0, sizeof *p);
    p->d = d;
    p->cmd = 1;
    REQUIRE(pthread_create(&p->th, NULL, pin_main, p) == 0);
    while (!__atomic_load_n(&p->done, __ATOMIC_ACQUIRE))
        usleep(100);
}

/* The pin announces the current grace period (once). */
static void pin_quiescent(struct pin *p)
{
    int n = __atomic_add_fetch(&p->cmd, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&p->done, __ATOMIC_ACQUIRE) != n)
        usleep(100);
}

static void pin_stop(struct pin *p)
{
    __atomic_store_n(&p->cmd, -1, __ATOMIC_RELEASE);
    pthread_join(p->th, NULL);
}

/* Public interfaces only: the static library keeps its internals local. */
static size_t page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

static int msg_has(const char *what)
{
    if (strstr(cmodx_last_error(), what))
        return 1;
    fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", cmodx_last_error(), what);
    return 0;
}

static size_t live_blocks(cmodx_heap *h)
{
    struct cmodx_heap_stats s;
    cmodx_heap_get_stats(h, &s);
    return s.live_blocks;
}

static cmodx_domain *domain_on(cmodx_heap *h, enum cmodx_strategy s)
{
    struct cmodx_domain_config c = {.strategy = s, .heap = h};
    cmodx_domain *d = NULL;
    REQUIRE(cmodx_domain_create(&c, &d) == 0);
    return d;
}

/* A block of H holding "return V" at OFFSET, visible. */
static cmodx_block fn_block(cmodx_heap *h, size_t size, size_t offset, uint32_t v)
{
    cmodx_block b;
    REQUIRE(cmodx_block_alloc(h, size, &b) == 0);
    REQUIRE(write_return(&b, offset, v) == 0);
    return b;
}

static cmodx_xptr at(cmodx_block b, size_t offset)
{
    return (cmodx_xptr){(const char *)b.exec.ptr + offset};
}

static uint32_t call_slot(cmodx_slot *s, cmodx_thread *self)
{
    cmodx_xptr x = {cmodx_slot_target(s, self)};
    uint32_t v = 0;
    CHECK(call_catching(as_fn(x), &v));
    return v;
}

/* ---- kind 3: live -> pending -> free, each transition checked ---------- */

static void test_lifecycle(void)
{
    /* One page: the freed space is reused by the next block, so a second
     * free of the first block would trap-fill the second. */
    struct cmodx_heap_config hc = {.limit_bytes = page_size()};
    cmodx_heap *h;
    REQUIRE(cmodx_heap_create(&hc, &h) == 0);
    cmodx_domain *d = domain_on(h, CMODX_SYNC_EPOCH);
    struct pin p;
    pin_start(&p, d);

    size_t page = page_size();
    cmodx_block a = fn_block(h, page, 0, 7);
    CHECK_EQ(cmodx_retire(d, a.exec), 0);
    cmodx_reclaim_poll(d); /* a grace period starts; the pin has not announced it */
    CHECK_EQ(cmodx_retire(d, a.exec), EINVAL);
    CHECK(msg_has("retired twice"));
    CHECK_EQ(cmodx_block_free(h, a.exec), EINVAL); /* the domain frees it */
    CHECK(msg_has("pending"));
    CHECK_EQ(cmodx_heap_contains(h, a.exec, NULL), 0); /* pending is not live */
    struct cmodx_reclaim_stats rs;
    cmodx_reclaim_get_stats(d, &rs);
    CHECK_EQ(rs.retired_blocks, 1);
    CHECK_EQ(rs.pending_blocks, 1);
    CHECK_EQ(live_blocks(h), 1); /* pending still occupies the heap */

    pin_quiescent(&p);
    CHECK_EQ(cmodx_reclaim_poll(d), 1);
    CHECK_EQ(cmodx_retire(d, a.exec), EINVAL); /* free now */
    CHECK_EQ(cmodx_block_free(h, a.exec), EINVAL);
    CHECK(msg_has("twice"));

    cmodx_block b = fn_block(h, page, 0, 42);
    CHECK(b.exec.ptr == a.exec.ptr); /* the same space */
    pin_quiescent(&p);
    CHECK_EQ(cmodx_reclaim_poll(d), 0); /* nothing else was retired */
    CHECK_EQ(live_blocks(h), 1);
    uint32_t v = 0;
    CHECK(call_catching(as_fn(b.exec), &v));
    CHECK_EQ(v, 42);
    cmodx_reclaim_get_stats(d, &rs);
    CHECK_EQ(rs.freed_blocks, 1);
    CHECK_EQ(rs.pending_blocks, 0);

    /* Retired, pending at destroy: freed by the domain, once. */
    CHECK_EQ(cmodx_retire(d, b.exec), 0);
    pin_stop(&p);
    CHECK_EQ(cmodx_domain_destroy(d), 0);
    CHECK_EQ(live_blocks(h), 0);
    CHECK_EQ(cmodx_block_free(h, b.exec), EINVAL);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

/* ---- kind 3: CMODX_RETIRE_OLD and the blocks slots share ----------------- */

static void test_ownership(void)
{
    struct cmodx_heap_config hc = {.limit_bytes = 64 << 10};
    cmodx_heap *h;
    REQUIRE(cmodx_heap_create(&hc, &h) == 0);
    cmodx_domain *d = domain_on(h, CMODX_SYNC_EPOCH);
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(d, &self) == 0);

    /* Interior entry points (a 16-byte header before the code): every old
     * block is retired and freed; the heap never fills up. */
    cmodx_block b0 = fn_block(h, 128, 16, 0);
    cmodx_slot s;
    REQUIRE(cmodx_slot_init(d, &s, at(b0, 16)) == 0);
    const int rounds = 3000; /* 3000 x 128 bytes: more than the 64 KiB limit */
    int i;
    for (i = 1; i <= rounds; i++) {
        cmodx_block nb = fn_block(h, 128, 16, (uint32_t)i);
        cmodx_xptr old = {NULL};
        int e = cmodx_slot_publish(&s, at(nb, 16), cmodx_emit_return_u32_size(),
                                   CMODX_RETIRE_OLD, &old);
        CHECK_EQ(e, 0);
        if (e)
            break;
        if (i % 16 == 0)
            CHECK_EQ(cmodx_synchronize(d, 0), 0);
    }
    CHECK_EQ(call_slot(&s, self), rounds);
    CHECK_EQ(cmodx_synchronize(d, 0), 0);
    struct cmodx_reclaim_stats rs;
    cmodx_reclaim_get_stats(d, &rs);
    CHECK_EQ(rs.retired_blocks, rounds);
    CHECK_EQ(rs.freed_blocks, rounds);
    CHECK_EQ(live_blocks(h), 1);
    cmodx_slot_fini(&s);

    /* A shared lazy-compile stub: three slots start on it (one through an
     * interior entry).  It is retired only when the last slot leaves it. */
    cmodx_block stub = fn_block(h, 128, 0, 100);
    REQUIRE(write_return(&stub, 64, 101) == 0);
    cmodx_slot a, b, c;
    REQUIRE(cmodx_slot_init(d, &a, stub.exec) == 0);
    REQUIRE(cmodx_slot_init(d, &b, stub.exec) == 0);
    REQUIRE(cmodx_slot_init(d, &c, at(stub, 64)) == 0);
    CHECK_EQ(cmodx_retire(d, stub.exec), EINVAL); /* slots target it */
    CHECK(msg_has("slot"));
    cmodx_reclaim_get_stats(d, &rs);
    uint64_t retired0 = rs.retired_blocks;

    cmodx_block x = fn_block(h, 64, 0, 1);
    CHECK_EQ(cmodx_slot_publish(&a, x.exec, 64, CMODX_RETIRE_OLD, NULL), 0);
    CHECK_EQ(cmodx_synchronize(d, 0), 0);
    CHECK(cmodx_heap_contains(h, stub.exec, NULL)); /* b and c still use it */
    CHECK_EQ(call_slot(&b, self), 100);
    CHECK_EQ(call_slot(&c, self), 101);

    cmodx_block y = fn_block(h, 64, 0, 2);
    CHECK_EQ(cmodx_slot_publish(&b, y.exec, 64, CMODX_RETIRE_OLD, NULL), 0);
    CHECK_EQ(cmodx_synchronize(d, 0), 0);
    CHECK(cmodx_heap_contains(h, stub.exec, NULL));
    CHECK_EQ(call_slot(&c, self), 101);
    cmodx_reclaim_get_stats(d, &rs);
    CHECK_EQ(rs.retired_blocks, retired0);

    /* The last slot leaves it, even without the flag: retired now. */
    cmodx_block z = fn_block(h, 64, 0, 3);
    CHECK_EQ(cmodx_slot_publish(&c, z.exec, 64, 0, NULL), 0);
    CHECK_EQ(cmodx_synchronize(d, 0), 0);
    CHECK(!cmodx_heap_contains(h, stub.exec, NULL));
    cmodx_reclaim_get_stats(d, &rs);
    CHECK_EQ(rs.retired_blocks, retired0 + 1);
    CHECK_EQ(call_slot(&a, self), 1);
    CHECK_EQ(call_slot(&b, self), 2);
    CHECK_EQ(call_slot(&c, self), 3);

    /* A batch judged on the state it leaves: a leaves X for Y with the
     * flag, b moves onto X in the same batch: X stays. */
    cmodx_batch *bt;
    REQUIRE(cmodx_batch_begin(d, &bt) == 0);
    cmodx_block w = fn_block(h, 64, 0, 4);
    CHECK_EQ(cmodx_batch_add(bt, &a, w.exec, 64, CMODX_RETIRE_OLD), 0);
    CHECK_EQ(cmodx_batch_add(bt, &b, x.exec, 64, CMODX_RETIRE_OLD), 0);
    CHECK_EQ(cmodx_batch_commit(bt, NULL), 0);
    CHECK_EQ(cmodx_synchronize(d, 0), 0);
    CHECK(cmodx_heap_contains(h, x.exec, NULL)); /* b targets it */
    CHECK(!cmodx_heap_contains(h, y.exec, NULL)); /* b left it with the flag */
    CHECK_EQ(call_slot(&a, self), 4);
    CHECK_EQ(call_slot(&b, self), 1);

    /* cmodx_slot_fini of the last slot on a block the flag left. */
    CHECK_EQ(cmodx_slot_publish(&c, x.exec, 64, CMODX_RETIRE_OLD, NULL), 0); /* z retired */
    CHECK_EQ(cmodx_slot_publish(&b, w.exec, 64, CMODX_RETIRE_OLD, NULL), 0); /* x: c on it */
    CHECK_EQ(cmodx_synchronize(d, 0), 0);
    CHECK(cmodx_heap_contains(h, x.exec, NULL));
    cmodx_slot_fini(&c);
    CHECK_EQ(cmodx_synchronize(d, 0), 0);
    CHECK(!cmodx_heap_contains(h, x.exec, NULL));

    /* A publish whose new target lies in the old block does not retire it. */
    cmodx_block two = fn_block(h, 128, 0, 5);
    REQUIRE(write_return(&two, 64, 6) == 0);
    cmodx_slot e;
    REQUIRE(cmodx_slot_init(d, &e, two.exec) == 0);
    CHECK_EQ(cmodx_slot_publish(&e, at(two, 64), 8, CMODX_RETIRE_OLD, NULL), 0);
    CHECK_EQ(cmodx_synchronize(d, 0), 0);
    CHECK(cmodx_heap_contains(h, two.exec, NULL));
    CHECK_EQ(call_slot(&e, self), 6);

    cmodx_slot_fini(&a);
    cmodx_slot_fini(&b);
    cmodx_slot_fini(&e);
    CHECK_EQ(cmodx_domain_destroy(d), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

/* ---- kind 3: addresses a slot may target ---------------------------------- */

static void test_addresses(void)
{
    cmodx_heap *h, *other;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    REQUIRE(cmodx_heap_create(NULL, &other) == 0);
    cmodx_domain *d = domain_on(h, CMODX_SYNC_EPOCH);
    cmodx_block b = fn_block(h, 64, 0, 1);
    cmodx_block ob = fn_block(other, 64, 0, 2);
    cmodx_slot s;

    CHECK_EQ(cmodx_slot_init(d, &s, (cmodx_xptr){b.write.ptr}), EINVAL);
    CHECK(msg_has("write view"));
    CHECK_EQ(cmodx_slot_publish(&s, b.exec, 8, 0, NULL), EINVAL); /* init failed */
    CHECK_EQ(cmodx_slot_init(d, &s, (cmodx_xptr){ob.write.ptr}), EINVAL); /* any heap */
    CHECK(msg_has("write view"));

    REQUIRE(cmodx_slot_init(d, &s, b.exec) == 0);
    cmodx_block c = fn_block(h, 64, 0, 3);
    CHECK_EQ(cmodx_slot_publish(&s, (cmodx_xptr){c.write.ptr}, 8, 0, NULL), EINVAL);
    CHECK(msg_has("write view"));
    CHECK_EQ(cmodx_slot_publish(&s, c.exec, c.size + 1, 0, NULL), EINVAL);
    CHECK(msg_has("past the end"));
    CHECK_EQ(cmodx_slot_publish(&s, at(c, 32), c.size - 31, 0, NULL), EINVAL);
    CHECK_EQ(cmodx_slot_publish(&s, (cmodx_xptr){ob.write.ptr}, 8, 0, NULL), EINVAL);
    CHECK_EQ(cmodx_slot_publish(&s, ob.exec, ob.size + 64, 0, NULL), EINVAL);
    CHECK(cmodx_slot_target_plain(&s) == b.exec.ptr); /* unchanged */

    cmodx_batch *bt;
    REQUIRE(cmodx_batch_begin(d, &bt) == 0);
    CHECK_EQ(cmodx_batch_add(bt, &s, (cmodx_xptr){c.write.ptr}, 8, 0), EINVAL);
    CHECK_EQ(cmodx_batch_add(bt, &s, c.exec, c.size * 2, 0), EINVAL);
    CHECK_EQ(cmodx_batch_add(bt, &s, c.exec, c.size, 0), 0);
    CHECK_EQ(cmodx_batch_commit(bt, NULL), 0); /* the whole block is fine */
    CHECK(cmodx_slot_target_plain(&s) == c.exec.ptr);

    /* Free space and a block retired and pending are not targets. */
    cmodx_block f = fn_block(h, 64, 0, 4);
    REQUIRE(cmodx_block_free(h, f.exec) == 0);
    CHECK_EQ(cmodx_slot_publish(&s, f.exec, 8, 0, NULL), EINVAL);
    CHECK(msg_has("free space"));
    cmodx_slot t;
    CHECK_EQ(cmodx_slot_init(d, &t, f.exec), EINVAL);
    struct pin p;
    pin_start(&p, d);
    cmodx_block r = fn_block(h, 64, 0, 5);
    REQUIRE(cmodx_retire(d, r.exec) == 0);
    CHECK_EQ(cmodx_slot_publish(&s, r.exec, 8, 0, NULL), EINVAL);
    CHECK(msg_has("retired"));
    pin_stop(&p);

    /* Another heap's live block and static code are fine targets (not
     * counted: nothing of them is ever retired through this domain). */
    CHECK_EQ(cmodx_slot_publish(&s, ob.exec, 8, CMODX_RETIRE_OLD, NULL), 0); /* c retired */
    CHECK_EQ(cmodx_slot_publish(&s, b.exec, 8, CMODX_RETIRE_OLD, NULL), 0);  /* ob: foreign */
    CHECK(cmodx_heap_contains(other, ob.exec, NULL));
    CHECK_EQ(cmodx_synchronize(d, 0), 0);
    CHECK(!cmodx_heap_contains(h, c.exec, NULL));

    cmodx_slot_fini(&s);
    CHECK_EQ(cmodx_domain_destroy(d), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
    CHECK_EQ(cmodx_heap_destroy(other), 0);
}

/* ---- kind 8: failed, finished and garbage slots --------------------------- */

static void test_slots(void)
{
    cmodx_heap *h;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    struct cmodx_domain_config dc = {.strategy = CMODX_SYNC_TRAMPOLINE, .heap = h,
                                     .max_trampoline_slots = 1};
    cmodx_domain *d;
    REQUIRE(cmodx_domain_create(&dc, &d) == 0);
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(d, &self) == 0);
    cmodx_block code = fn_block(h, 64, 0, 1000);
    static cmodx_slot s[CMODX_TRAMPOLINE_PAGE + 1];
    size_t n = 0;
    int err;
    while (n <= CMODX_TRAMPOLINE_PAGE && (err = cmodx_slot_init(d, &s[n], code.exec)) == 0)
        n++;
    CHECK_EQ(n, CMODX_TRAMPOLINE_PAGE); /* 1 rounds up to a page of copies */
    CHECK_EQ(err, ENOMEM);
    cmodx_slot *x = &s[n];
    CHECK(x->domain == NULL); /* defined and unusable */
    cmodx_block eight = fn_block(h, 64, 0, 8);
    CHECK_EQ(cmodx_slot_publish(x, eight.exec, 8, 0, NULL), EINVAL);
    cmodx_slot_fini(x); /* ignored */

    /* Finished slots are unusable; finishing twice is harmless. */
    cmodx_slot_fini(&s[0]);
    CHECK_EQ(cmodx_slot_publish(&s[0], eight.exec, 8, 0, NULL), EINVAL);
    cmodx_slot_fini(&s[0]);
    /* Its id is free again: a new slot gets it and runs its own code. */
    cmodx_slot y;
    CHECK_EQ(cmodx_slot_init(d, &y, eight.exec), 0);
    CHECK_EQ(call_slot(&y, self), 8);
    CHECK_EQ(call_slot(&s[1], self), 1000);

    /* Garbage and a slot copied elsewhere: EINVAL, never a crash. */
    cmodx_slot junk;
    memset(&junk, 0xa5, sizeof junk);
    CHECK_EQ(cmodx_slot_publish(&junk, eight.exec, 8, 0, NULL), EINVAL);
    cmodx_slot_fini(&junk);
    cmodx_slot moved;
    memcpy(&moved, &s[2], sizeof moved);
    CHECK_EQ(cmodx_slot_publish(&moved, eight.exec, 8, 0, NULL), EINVAL);
    CHECK_EQ(cmodx_slot_publish(NULL, eight.exec, 8, 0, NULL), EINVAL);
    cmodx_batch *bt;
    REQUIRE(cmodx_batch_begin(d, &bt) == 0);
    CHECK_EQ(cmodx_batch_add(bt, &junk, eight.exec, 8, 0), EINVAL);
    CHECK_EQ(cmodx_batch_add(bt, NULL, eight.exec, 8, 0), EINVAL);
    cmodx_batch_abort(bt);
    cmodx_slot bad;
    CHECK_EQ(cmodx_slot_init(NULL, &bad, code.exec), EINVAL);
    CHECK(bad.domain == NULL);
    CHECK_EQ(cmodx_slot_init(d, &bad, (cmodx_xptr){NULL}), EINVAL);
    CHECK(bad.domain == NULL);
    CHECK_EQ(cmodx_slot_init(d, NULL, code.exec), EINVAL);

    cmodx_slot_fini(&y);
    for (size_t i = 1; i < n; i++)
        cmodx_slot_fini(&s[i]);
    CHECK_EQ(cmodx_domain_destroy(d), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

/* ---- kind 8: destroy order, NULL arguments, out-parameters ---------------- */

static int exiting_registered;

static void *register_and_exit(void *arg)
{
    cmodx_thread *self;
    REQUIRE(cmodx_thread_register(arg, &self) == 0);
    __atomic_add_fetch(&exiting_registered, 1, __ATOMIC_ACQ_REL);
    return NULL; /* the exit destructor unregisters, using the domain */
}

/* Threads exit registered while the domain is destroyed: destroy refuses
 * while they are registered and then waits until their exit destructors
 * no longer use it (under TSan or ASan a use after free shows here; the
 * trampoline strategy's part of a record reads the domain). */
static void destroy_while_threads_exit(void)
{
    for (int round = 0; round < 20; round++) {
        cmodx_domain *d = domain_on(NULL, round % 2 ? CMODX_SYNC_TRAMPOLINE : CMODX_SYNC_EPOCH);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        __atomic_store_n(&exiting_registered, 0, __ATOMIC_RELEASE);
        for (int i = 0; i < 4; i++) {
            pthread_t th;
            REQUIRE(pthread_create(&th, &attr, register_and_exit, d) == 0);
        }
        pthread_attr_destroy(&attr);
        while (__atomic_load_n(&exiting_registered, __ATOMIC_ACQUIRE) < 4)
            sched_yield();
        int e;
        while ((e = cmodx_domain_destroy(d)) == EBUSY)
            sched_yield();
        CHECK_EQ(e, 0);
    }
}

static void test_lifetime(void)
{
    cmodx_heap *h;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    cmodx_domain *d = domain_on(h, CMODX_SYNC_EPOCH);
    cmodx_domain *d2 = domain_on(h, CMODX_SYNC_EPOCH);
    CHECK_EQ(cmodx_heap_destroy(h), EBUSY);
    CHECK(msg_has("domain"));
    cmodx_block b = fn_block(h, 64, 0, 1); /* the heap still works */
    CHECK_EQ(cmodx_retire(d, b.exec), 0);
    CHECK_EQ(cmodx_domain_destroy(d), 0);
    CHECK_EQ(cmodx_heap_destroy(h), EBUSY); /* d2 */
    CHECK_EQ(cmodx_domain_destroy(d2), 0);
    CHECK_EQ(live_blocks(h), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
    CHECK_EQ(cmodx_heap_destroy(NULL), 0);
    CHECK_EQ(cmodx_domain_destroy(NULL), 0);
    destroy_while_threads_exit();

    cmodx_thread_offline(NULL);
    cmodx_thread_online(NULL);
    struct cmodx_heap_stats st;
    memset(&st, 0xff, sizeof st);
    cmodx_heap_get_stats(NULL, &st);
    CHECK_EQ(st.live_blocks, 0);
    CHECK_EQ(st.mapped_bytes, 0);
    CHECK_EQ(cmodx_heap_contains(NULL, b.exec, NULL), 0);
    CHECK_EQ(cmodx_retire(NULL, b.exec), EINVAL);
    CHECK_EQ(cmodx_synchronize(NULL, 0), EINVAL);
    CHECK_EQ(cmodx_reclaim_poll(NULL), 0);
    CHECK_EQ(cmodx_sync_others(NULL), EINVAL);
    CHECK_EQ(cmodx_thread_register(NULL, NULL), EINVAL);
    CHECK_EQ(cmodx_thread_unregister(NULL), ENOENT);
    CHECK_EQ(cmodx_block_free(NULL, b.exec), EINVAL);
    CHECK_EQ(cmodx_batch_commit(NULL, NULL), EINVAL);
    cmodx_batch_abort(NULL);
    struct cmodx_reclaim_stats rs;
    memset(&rs, 0xff, sizeof rs);
    cmodx_reclaim_get_stats(NULL, &rs);
    CHECK_EQ(rs.retired_blocks, 0);
    CHECK_EQ(rs.pending_bytes, 0);
    cmodx_epoch_resync(NULL, 1); /* out-of-line fast-path helpers: ignored */
    cmodx_gp_wake(NULL);
    CHECK_EQ(cmodx_make_visible((cmodx_xptr){NULL}, 64), EINVAL);
    CHECK_EQ(cmodx_patch_insns(NULL, NULL, 1), EINVAL);
    CHECK_EQ(cmodx_entry_restore(NULL, b.exec), EINVAL);
    CHECK_EQ(cmodx_entry_list(NULL, NULL, 0), 0);

    /* Failed calls leave their out-parameters defined and unusable. */
    cmodx_heap *hp = (cmodx_heap *)&st;
    struct cmodx_heap_config bad = {.flags = 0x80};
    CHECK_EQ(cmodx_heap_create(&bad, &hp), EINVAL);
    CHECK(hp == NULL);
    cmodx_domain *dp = (cmodx_domain *)&st;
    struct cmodx_domain_config dbad = {.strategy = (enum cmodx_strategy)77};
    CHECK_EQ(cmodx_domain_create(&dbad, &dp), EINVAL);
    CHECK(dp == NULL);
    cmodx_batch *bp = (cmodx_batch *)&st;
    CHECK_EQ(cmodx_batch_begin(NULL, &bp), EINVAL);
    CHECK(bp == NULL);

    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    cmodx_block out;
    memset(&out, 0xa5, sizeof out);
    CHECK_EQ(cmodx_block_alloc(h, 0, &out), EINVAL);
    CHECK(out.exec.ptr == NULL && out.write.ptr == NULL && out.size == 0);
    memset(&out, 0xa5, sizeof out);
    CHECK_EQ(cmodx_block_alloc_near(h, 64, (cmodx_xptr){NULL}, 1 << 20, &out), EINVAL);
    CHECK(out.exec.ptr == NULL && out.size == 0);
    memset(&out, 0xa5, sizeof out);
    cmodx_wptr wp = {(void *)&st};
    CHECK_EQ(cmodx_heap_lookup(h, (cmodx_xptr){&st}, &out, &wp), EINVAL);
    CHECK(out.exec.ptr == NULL && wp.ptr == NULL);
    cmodx_domain *e = domain_on(h, CMODX_SYNC_EPOCH);
    cmodx_slot s;
    cmodx_block c = fn_block(h, 64, 0, 1);
    REQUIRE(cmodx_slot_init(e, &s, c.exec) == 0);
    cmodx_xptr old = {&st};
    CHECK_EQ(cmodx_slot_publish(&s, c.exec, 0, 0, &old), EINVAL);
    CHECK(old.ptr == NULL);
    cmodx_slot_fini(&s);
    CHECK_EQ(cmodx_domain_destroy(e), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

/* ---- kind 7: every size and count bounded ---------------------------------- */

static void test_bounds(void)
{
    cmodx_heap *h = NULL;
    struct cmodx_heap_config hc = {.chunk_bytes = SIZE_MAX - 4095}; /* rounding would wrap */
    CHECK_EQ(cmodx_heap_create(&hc, &h), EINVAL);
    CHECK(msg_has("chunk_bytes"));
    if (sizeof(size_t) >= 8) {
        /* Multiplied at run time: the shifts would not compile for a
         * 32-bit size_t, even in this branch. */
        size_t gib = (size_t)1 << 30;
        hc.chunk_bytes = gib * 256; /* 256 GiB: 2^32 granules */
        CHECK_EQ(cmodx_heap_create(&hc, &h), EINVAL);
        CHECK(msg_has("chunk_bytes"));
        hc.chunk_bytes = gib * 64; /* the maximum: accepted */
        CHECK_EQ(cmodx_heap_create(&hc, &h), 0);
        CHECK_EQ(cmodx_heap_destroy(h), 0);
    } else {
        hc.chunk_bytes = ((size_t)1 << 30) + 1;
        CHECK_EQ(cmodx_heap_create(&hc, &h), EINVAL);
    }
    hc = (struct cmodx_heap_config){.limit_bytes = 100};
    CHECK_EQ(cmodx_heap_create(&hc, &h), EINVAL);
    CHECK(msg_has("limit_bytes"));
    hc = (struct cmodx_heap_config){.chunk_bytes = 1, .limit_bytes = page_size()};
    REQUIRE(cmodx_heap_create(&hc, &h) == 0);

    cmodx_block b;
    CHECK_EQ(cmodx_block_alloc(h, ((size_t)1 << 30) + 1, &b), EINVAL);
    CHECK_EQ(cmodx_block_alloc(h, SIZE_MAX, &b), EINVAL);
    CHECK_EQ(cmodx_block_alloc_near(h, SIZE_MAX, (cmodx_xptr){&b}, SIZE_MAX, &b), EINVAL);
    CHECK_EQ(cmodx_block_alloc(h, page_size() + 1, &b), ENOMEM); /* over the limit */
    REQUIRE(cmodx_block_alloc(h, 64, &b) == 0);
    char junk[16] = {0};
    CHECK_EQ(cmodx_block_write(&b, b.size - 4, junk, 8), EINVAL);
    CHECK_EQ(cmodx_block_write(&b, SIZE_MAX, junk, 2), EINVAL);
    CHECK_EQ(cmodx_block_write(&b, 8, junk, SIZE_MAX - 4), EINVAL);
    CHECK_EQ(cmodx_block_write(&b, 0, NULL, 0), 0); /* never memcpy(NULL) */
    CHECK_EQ(cmodx_block_write(&b, b.size, junk, 0), 0);
    CHECK_EQ(cmodx_block_write(&b, 0, NULL, 1), EINVAL);
    CHECK_EQ(cmodx_block_write(NULL, 0, junk, 1), EINVAL);
    CHECK_EQ(cmodx_heap_destroy(h), 0);

    struct cmodx_domain_config dc = {.strategy = CMODX_SYNC_TRAMPOLINE,
                                     .max_trampoline_slots = UINT32_MAX};
    cmodx_domain *d = NULL;
    CHECK_EQ(cmodx_domain_create(&dc, &d), EINVAL);
    CHECK(msg_has("max_trampoline_slots"));
    CHECK(d == NULL);
    dc.max_trampoline_slots = (1u << 20) + 1;
    CHECK_EQ(cmodx_domain_create(&dc, &d), EINVAL);
}

/* ---- kind 9: the documented errors, and advice that can be followed ------- */

static void test_errors(void)
{
    unsigned faults = cmodx_debug_faults();
    cmodx_debug_set_faults(faults | CMODX_FAULT_MEMFD);
    cmodx_heap *h = NULL;
    int e = cmodx_heap_create(NULL, &h);
    CHECK(e == ENOSYS || e == EPERM);
    CHECK(msg_has("CMODX_HEAP_ALLOW_TMPFILE"));
    /* Following the advice works (unless no directory allows it). */
    struct cmodx_heap_config hc = {.flags = CMODX_HEAP_ALLOW_TMPFILE};
    e = cmodx_heap_create(&hc, &h);
    if (e == 0) {
        /* A trampoline domain's stub heap follows its heap's flags. */
        struct cmodx_domain_config dc = {.strategy = CMODX_SYNC_TRAMPOLINE, .heap = h};
        cmodx_domain *d;
        e = cmodx_domain_create(&dc, &d);
        CHECK_EQ(e, 0);
        if (!e)
            CHECK_EQ(cmodx_domain_destroy(d), 0);
        dc.heap = NULL;
        e = cmodx_domain_create(&dc, &d);
        CHECK(e == ENOSYS || e == EPERM);
        CHECK(msg_has("CMODX_HEAP_ALLOW_TMPFILE"));
        CHECK_EQ(cmodx_heap_destroy(h), 0);
    } else {
        CHECK(msg_has("CMODX_TMPDIR"));
    }
    cmodx_debug_set_faults(faults);

    /* Out of file descriptors: EMFILE, as documented. */
    struct rlimit old;
    REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
    int lowest = dup(0);
    if (lowest >= 0) {
        close(lowest);
        struct rlimit tight = old;
        tight.rlim_cur = (rlim_t)lowest; /* every descriptor from here on fails */
        if (setrlimit(RLIMIT_NOFILE, &tight) == 0) {
            e = cmodx_heap_create(NULL, &h);
            setrlimit(RLIMIT_NOFILE, &old);
            CHECK_EQ(e, EMFILE);
            CHECK(h == NULL);
            if (!e)
                cmodx_heap_destroy(h);
        }
    }
    CHECK(strcmp(cmodx_strerror(EBUSY), "") != 0);
}

/* ---- the trap fill of freed blocks, a guarantee --------------------------- */

static int trap_filled(const cmodx_block *b)
{
    unsigned char want[256];
    size_t n = b->size < sizeof want ? b->size : sizeof want;
    cmodx_emit_trap_fill((cmodx_wptr){want}, n);
    return memcmp(b->write.ptr, want, n) == 0;
}

static void test_trapfill(void)
{
    cmodx_heap *h;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    /* A neighbour keeps the page live, so the write view stays mapped and
     * the freed bytes can be read through it. */
    cmodx_block keep = fn_block(h, 64, 0, 9);
    cmodx_block b = fn_block(h, 128, 0, 1);
    REQUIRE(cmodx_block_free(h, b.exec) == 0);
    CHECK(trap_filled(&b));
    cmodx_domain *d = domain_on(h, CMODX_SYNC_EPOCH);
    cmodx_block r = fn_block(h, 128, 0, 2);
    REQUIRE(cmodx_retire(d, r.exec) == 0);
    REQUIRE(cmodx_synchronize(d, 0) == 0);
    CHECK(trap_filled(&r));
    uint32_t v = 0;
    CHECK(!call_catching(as_fn(r.exec), &v)); /* running it faults */
    CHECK(call_catching(as_fn(keep.exec), &v) && v == 9);
    CHECK_EQ(cmodx_domain_destroy(d), 0);
    CHECK_EQ(cmodx_heap_destroy(h), 0);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } parts[] = {
        {"lifecycle", test_lifecycle}, {"ownership", test_ownership},
        {"addresses", test_addresses}, {"slots", test_slots},
        {"lifetime", test_lifetime},   {"bounds", test_bounds},
        {"errors", test_errors},       {"trapfill", test_trapfill},
    };
    int ran = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (argc < 2 || strcmp(argv[1], parts[i].name) == 0) {
            parts[i].fn();
            ran++;
        }
    if (!ran) {
        fprintf(stderr, "test_blocks: unknown part %s\n", argv[1]);
        return 2;
    }
    if (check_failures)
        fprintf(stderr, "test_blocks: %d check(s) failed\n", check_failures);
    else
        printf("test_blocks: ok\n");
    return check_failures > 100 ? 100 : check_failures;
}
