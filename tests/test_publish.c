/* Write functions into blocks, make them visible, run them through the
 * execute view: many sizes, offsets, unaligned ranges and line-straddling
 * placements. */
#include "check.h"
#include "testutil.h"

static cmodx_heap *heap;

/* A block of SIZE bytes with "return VALUE" at OFFSET, published over a
 * range that starts SLACK bytes before the function (unaligned start). */
static void run_at(size_t size, size_t offset, size_t slack, uint32_t value)
{
    cmodx_block b;
    REQUIRE(cmodx_block_alloc(heap, size, &b) == 0);
    CHECK(b.size >= size);
    CHECK((uintptr_t)b.exec.ptr % cmodx_cache_line_max() == 0);
    cmodx_wptr w = {(char *)b.write.ptr + offset};
    size_t n = cmodx_emit_return_u32(w, b.size - offset, value);
    REQUIRE(n > 0);
    cmodx_xptr start = {(const char *)b.exec.ptr + offset - slack};
    CHECK(cmodx_make_visible(start, n + slack) == 0);
    cmodx_xptr fn = {(const char *)b.exec.ptr + offset};
    CHECK_EQ(as_fn(fn)(), value);
    CHECK(cmodx_block_free(heap, b.exec) == 0);
}

int main(void)
{
    REQUIRE(cmodx_heap_create(NULL, &heap) == 0);
    size_t align = cmodx_insn_align() < 4 ? 4 : cmodx_insn_align();
    size_t line = cmodx_cache_line_max();
    uint32_t v = 0x1000;

    /* Two blocks in a row: each returns its own constant. */
    cmodx_block a, b;
    REQUIRE(cmodx_block_alloc(heap, 16, &a) == 0);
    REQUIRE(cmodx_block_alloc(heap, 16, &b) == 0);
    CHECK(write_return(&a, 0, 111) == 0);
    CHECK_EQ(as_fn(a.exec)(), 111);
    CHECK(write_return(&b, 0, 0xdeadbeef) == 0);
    CHECK_EQ(as_fn(b.exec)(), 0xdeadbeefu);
    CHECK_EQ(as_fn(a.exec)(), 111);

    /* Many sizes; the function at the start, in the middle and at the end. */
    const size_t sizes[] = {1, 12, 31, 64, 65, 127, 500, 4095, 4096, 4097, 70000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t sz = sizes[i] < 16 ? 16 : sizes[i];
        run_at(sz, 0, 0, v++);
        size_t mid = (sz / 2) / align * align;
        if (mid + 16 <= sz)
            run_at(sz, mid, mid ? 1 : 0, v++);
        size_t end = (sz - 12) / align * align;
        run_at(sz, end, end >= 3 ? 3 : 0, v++);
    }
    /* A function straddling one and several cache-line boundaries. */
    for (size_t k = 1; k <= 3; k++)
        run_at(4 * line, k * line - 4, 5, v++);
    /* A range that starts unaligned and spans several lines. */
    run_at(8 * line, 5 * line + 8, 3 * line + 7, v++);
    /* Values whose halves exercise sign handling in the encoders. */
    const uint32_t tricky[] = {0, 1, 0x7ff, 0x800, 0xfff, 0xffff, 0x10000, 0x7fffffff,
                               0x80000000u, 0x80000800u, 0xfffff800u, 0xffffffffu};
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++)
        run_at(64, 0, 0, tricky[i]);

    CHECK(cmodx_block_free(heap, a.exec) == 0);
    CHECK(cmodx_block_free(heap, b.exec) == 0);
    cmodx_heap_destroy(heap);
    return check_finish("test_publish");
}
