/* Heap behaviour: reuse of the same addresses with new code, accounting,
 * limits, every documented error, the memfd fallback, and W^X. */
#include <errno.h>

#include "check.h"
#include "testutil.h"

#include <unistd.h>

/* A heap of exactly one page, so that freed space is the only free space. */
static cmodx_heap *one_page_heap(void)
{
    cmodx_heap *h;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    struct cmodx_heap_config cfg = {.chunk_bytes = page, .limit_bytes = page};
    REQUIRE(cmodx_heap_create(&cfg, &h) == 0);
    return h;
}

/* Allocate the rest of the heap's only page. */
static void fill_rest(cmodx_heap *h)
{
    struct cmodx_heap_stats s;
    cmodx_block filler;
    cmodx_heap_get_stats(h, &s);
    REQUIRE(cmodx_block_alloc(h, s.free_bytes, &filler) == 0);
}

static void test_reuse_same_address(void)
{
    cmodx_heap *h = one_page_heap();
    cmodx_block b1, b2, nb;
    REQUIRE(cmodx_block_alloc(h, 64, &b1) == 0);
    REQUIRE(cmodx_block_alloc(h, 64, &nb) == 0); /* a live neighbour on the page */
    CHECK(write_return(&nb, 0, 7) == 0);
    fill_rest(h); /* so the freed block is the only free space */
    CHECK(write_return(&b1, 0, 1111) == 0);
    CHECK_EQ(as_fn(b1.exec)(), 1111);
    CHECK(cmodx_block_free(h, b1.exec) == 0);
    REQUIRE(cmodx_block_alloc(h, 64, &b2) == 0);
    CHECK(b2.exec.ptr == b1.exec.ptr);
    CHECK(b2.write.ptr == b1.write.ptr);
    /* New code at an address that already ran code (qemu-user would run
     * its stale translation here without the execute-view remap). */
    CHECK(write_return(&b2, 0, 2222) == 0);
    CHECK_EQ(as_fn(b2.exec)(), 2222);
    for (uint32_t round = 0; round < 20; round++) {
        CHECK(cmodx_block_free(h, b2.exec) == 0);
        REQUIRE(cmodx_block_alloc(h, 64, &b2) == 0);
        CHECK(b2.exec.ptr == b1.exec.ptr);
        CHECK(write_return(&b2, 0, 3000 + round) == 0);
        CHECK_EQ(as_fn(b2.exec)(), 3000 + round);
        CHECK_EQ(as_fn(nb.exec)(), 7);
    }
    struct cmodx_heap_stats s;
    cmodx_heap_get_stats(h, &s);
    CHECK(s.remaps >= 21); /* every reuse of run code remapped its page */
    CHECK_EQ(s.live_blocks, 3);
    cmodx_heap_destroy(h);
}

/* Freed space that never ran since its page was mapped is preferred: the
 * remap is paid once per page, not once per block. */
static void test_clean_space_preferred(void)
{
    cmodx_heap *h;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    cmodx_block ring[8];
    for (int i = 0; i < 8; i++)
        REQUIRE(cmodx_block_alloc(h, 64, &ring[i]) == 0);
    for (int i = 0; i < 4000; i++) {
        CHECK(cmodx_block_free(h, ring[i % 8].exec) == 0);
        REQUIRE(cmodx_block_alloc(h, 64, &ring[i % 8]) == 0);
        CHECK(write_return(&ring[i % 8], 0, (uint32_t)i) == 0);
        CHECK_EQ(as_fn(ring[i % 8].exec)(), i);
    }
    struct cmodx_heap_stats s;
    cmodx_heap_get_stats(h, &s);
    printf("clean-space preference: %llu remaps for 4000 reuses\n", (unsigned long long)s.remaps);
    CHECK(s.remaps < 4000 / 8);
    cmodx_heap_destroy(h);
}

static void test_oldest_free_space_first(void)
{
    cmodx_heap *h = one_page_heap();
    cmodx_block b[6];
    for (int i = 0; i < 6; i++)
        REQUIRE(cmodx_block_alloc(h, 64, &b[i]) == 0);
    fill_rest(h);
    /* Free 1 then 3 (not adjacent, so not merged): 1 is older. */
    CHECK(cmodx_block_free(h, b[1].exec) == 0);
    CHECK(cmodx_block_free(h, b[3].exec) == 0);
    cmodx_block n1, n2;
    REQUIRE(cmodx_block_alloc(h, 64, &n1) == 0);
    REQUIRE(cmodx_block_alloc(h, 64, &n2) == 0);
    CHECK(n1.exec.ptr == b[1].exec.ptr);
    CHECK(n2.exec.ptr == b[3].exec.ptr);
    cmodx_heap_destroy(h);
}

static void test_accounting_and_coalescing(void)
{
    cmodx_heap *h;
    struct cmodx_heap_config cfg = {.chunk_bytes = 64 * 1024};
    REQUIRE(cmodx_heap_create(&cfg, &h) == 0);
    struct cmodx_heap_stats s0, s;
    cmodx_block b[100];
    for (int i = 0; i < 100; i++)
        REQUIRE(cmodx_block_alloc(h, 1 + (size_t)i * 37, &b[i]) == 0);
    cmodx_heap_get_stats(h, &s0);
    CHECK_EQ(s0.live_blocks, 100);
    CHECK_EQ(s0.live_bytes + s0.free_bytes, s0.mapped_bytes);
    for (int i = 0; i < 100; i += 2)
        CHECK(cmodx_block_free(h, b[i].exec) == 0);
    for (int i = 1; i < 100; i += 2)
        CHECK(cmodx_block_free(h, b[i].exec) == 0);
    cmodx_heap_get_stats(h, &s);
    CHECK_EQ(s.live_blocks, 0);
    CHECK_EQ(s.live_bytes, 0);
    CHECK_EQ(s.free_bytes, s.mapped_bytes);
    CHECK_EQ(s.free_runs, s.chunks); /* everything merged back */
    /* Blocks never overlap, are aligned, and sizes are honoured. */
    for (int i = 0; i < 100; i++)
        REQUIRE(cmodx_block_alloc(h, 1 + (size_t)i * 37, &b[i]) == 0);
    for (int i = 0; i < 100; i++) {
        CHECK((uintptr_t)b[i].exec.ptr % s.alignment == 0);
        CHECK(b[i].size >= 1 + (size_t)i * 37);
        for (int j = 0; j < i; j++) {
            uintptr_t a0 = (uintptr_t)b[i].exec.ptr, a1 = a0 + b[i].size;
            uintptr_t c0 = (uintptr_t)b[j].exec.ptr, c1 = c0 + b[j].size;
            CHECK(a1 <= c0 || c1 <= a0);
        }
    }
    cmodx_heap_destroy(h);
}

static void test_limit_and_exhaustion(void)
{
    cmodx_heap *h;
    struct cmodx_heap_config cfg = {.chunk_bytes = 16384, .limit_bytes = 65536};
    REQUIRE(cmodx_heap_create(&cfg, &h) == 0);
    cmodx_block b;
    int n = 0, err;
    while ((err = cmodx_block_alloc(h, 1000, &b)) == 0)
        n++;
    CHECK_EQ(err, ENOMEM);
    CHECK(strstr(cmodx_last_error(), "limit") != NULL);
    struct cmodx_heap_stats s;
    cmodx_heap_get_stats(h, &s);
    CHECK(s.mapped_bytes <= 65536);
    CHECK(n >= 60);
    /* Too large for the limit at once; the heap is unchanged after it. */
    CHECK_EQ(cmodx_block_alloc(h, 100000, &b), ENOMEM);
    struct cmodx_heap_stats s2;
    cmodx_heap_get_stats(h, &s2);
    CHECK_EQ(s2.mapped_bytes, s.mapped_bytes);
    CHECK_EQ(s2.live_blocks, s.live_blocks);
    cmodx_heap_destroy(h);

    /* mmap failure: ENOMEM, nothing mapped, nothing leaked (ASan). */
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    cmodx_debug_set_faults(CMODX_FAULT_MMAP);
    CHECK_EQ(cmodx_block_alloc(h, 64, &b), ENOMEM);
    cmodx_debug_set_faults(0);
    cmodx_heap_get_stats(h, &s);
    CHECK_EQ(s.mapped_bytes, 0);
    CHECK_EQ(s.chunks, 0);
    CHECK(cmodx_block_alloc(h, 64, &b) == 0);
    cmodx_heap_destroy(h);
}

static void test_bad_input(void)
{
    cmodx_heap *h;
    cmodx_block b;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    CHECK_EQ(cmodx_block_alloc(h, 0, &b), EINVAL);
    CHECK_EQ(cmodx_block_alloc(h, (size_t)-1, &b), EINVAL);
    CHECK_EQ(cmodx_block_alloc(h, ((size_t)1 << 30) + 1, &b), EINVAL);
    CHECK_EQ(cmodx_block_alloc(NULL, 64, &b), EINVAL);
    CHECK_EQ(cmodx_block_alloc(h, 64, NULL), EINVAL);
    REQUIRE(cmodx_block_alloc(h, 256, &b) == 0);
    cmodx_xptr inside = {(const char *)b.exec.ptr + 64};
    CHECK_EQ(cmodx_block_free(h, inside), EINVAL);
    cmodx_xptr off = {(const char *)b.exec.ptr + 1};
    CHECK_EQ(cmodx_block_free(h, off), EINVAL);
    int local;
    cmodx_xptr stack = {&local};
    CHECK_EQ(cmodx_block_free(h, stack), EINVAL);
    cmodx_xptr null = {NULL};
    CHECK_EQ(cmodx_block_free(h, null), EINVAL);
    cmodx_xptr as_w = {b.write.ptr}; /* the write view is not a block address */
    CHECK_EQ(cmodx_block_free(h, as_w), EINVAL);
    CHECK(cmodx_block_free(h, b.exec) == 0);
    CHECK_EQ(cmodx_block_free(h, b.exec), EINVAL);
    CHECK(strstr(cmodx_last_error(), "twice") != NULL);
    CHECK_EQ(cmodx_block_write(&b, b.size - 2, "abcd", 4), EINVAL);
    CHECK_EQ(cmodx_make_visible(null, 4), EINVAL);
    struct cmodx_heap_config bad = {.flags = 0x80};
    cmodx_heap *h2 = NULL;
    CHECK_EQ(cmodx_heap_create(&bad, &h2), EINVAL);
    CHECK_EQ(cmodx_heap_create(NULL, NULL), EINVAL);
    struct cmodx_heap_stats s;
    cmodx_heap_get_stats(h, &s);
    CHECK_EQ(s.live_blocks, 0);
    cmodx_heap_destroy(h);
}

static void test_memfd_fallback(void)
{
    cmodx_heap *h = NULL;
    cmodx_debug_set_faults(CMODX_FAULT_MEMFD);
    int err = cmodx_heap_create(NULL, &h);
    CHECK_EQ(err, ENOSYS);
    CHECK(strstr(cmodx_last_error(), "CMODX_HEAP_ALLOW_TMPFILE") != NULL);
    struct cmodx_heap_config cfg = {.flags = CMODX_HEAP_ALLOW_TMPFILE};
    err = cmodx_heap_create(&cfg, &h);
    cmodx_debug_set_faults(0);
    if (err) {
        /* Only acceptable if no temporary directory allows exec mappings. */
        fprintf(stderr, "note: tmpfile fallback unavailable here: %s\n", cmodx_last_error());
        return;
    }
    cmodx_block b;
    REQUIRE(cmodx_block_alloc(h, 64, &b) == 0);
    CHECK(write_return(&b, 0, 4242) == 0);
    CHECK_EQ(as_fn(b.exec)(), 4242);
    CHECK_EQ(count_wx_mappings(), 0);
    cmodx_heap_destroy(h);
}

static void test_no_wx_mapping(void)
{
    cmodx_heap *h;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    cmodx_block b[50];
    for (int i = 0; i < 50; i++) {
        REQUIRE(cmodx_block_alloc(h, 100 + (size_t)i * 300, &b[i]) == 0);
        CHECK(write_return(&b[i], 0, (uint32_t)i) == 0);
    }
    for (int i = 0; i < 50; i += 3)
        CHECK(cmodx_block_free(h, b[i].exec) == 0);
    CHECK_EQ(count_wx_mappings(), 0);
    for (int i = 1; i < 50; i += 3)
        CHECK_EQ(as_fn(b[i].exec)(), i);
    cmodx_heap_destroy(h);
}

int main(void)
{
    test_reuse_same_address();
    test_clean_space_preferred();
    test_oldest_free_space_first();
    test_accounting_and_coalescing();
    test_limit_and_exhaustion();
    test_bad_input();
    test_memfd_fallback();
    test_no_wx_mapping();
    return check_finish("test_heap");
}
