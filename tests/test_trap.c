/* A freed block traps when executed, also when its space ran code before,
 * and when it is reached again after reuse and a second free. */
#include "check.h"
#include "testutil.h"

int main(void)
{
    cmodx_heap *h;
    REQUIRE(cmodx_heap_create(NULL, &h) == 0);
    uint32_t r = 0;

    for (int round = 0; round < 3; round++) {
        cmodx_block b;
        REQUIRE(cmodx_block_alloc(h, 128, &b) == 0);
        CHECK(write_return(&b, 0, 500 + (uint32_t)round) == 0);
        /* Run it several times so any translation or prefetch is warm. */
        for (int i = 0; i < 3; i++) {
            CHECK(call_catching(as_fn(b.exec), &r) == 1);
            CHECK_EQ(r, 500 + round);
        }
        CHECK(cmodx_block_free(h, b.exec) == 0);
        r = 0;
        CHECK(call_catching(as_fn(b.exec), &r) == 0);
        CHECK(trap_signal == SIGILL || trap_signal == SIGTRAP);
        /* Also an entry into the middle of the freed block. */
        cmodx_xptr mid = {(const char *)b.exec.ptr + 64};
        CHECK(call_catching(as_fn(mid), &r) == 0);
    }
    /* A never-used block never runs stale code after free either. */
    cmodx_block fresh;
    REQUIRE(cmodx_block_alloc(h, 64, &fresh) == 0);
    CHECK(cmodx_block_free(h, fresh.exec) == 0);
    CHECK(call_catching(as_fn(fresh.exec), &r) == 0);

    /* After trapping, the space is reused and runs its new code. */
    cmodx_block again;
    REQUIRE(cmodx_block_alloc(h, 64, &again) == 0);
    CHECK(write_return(&again, 0, 9090) == 0);
    CHECK(call_catching(as_fn(again.exec), &r) == 1);
    CHECK_EQ(r, 9090);
    cmodx_heap_destroy(h);
    return check_finish("test_trap");
}
