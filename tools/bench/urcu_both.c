/* tools/bench/urcu_both.c - a reader registered with both liburcu flavours
 * (built only when liburcu was found). */
#include "bench.h"

int bench_urcu_available(void) { return 1; }

void bench_urcu_init(void)
{
    bench_qsbr_reader_init();
    bench_memb_reader_init();
}

void bench_urcu_fini(void)
{
    bench_qsbr_reader_fini();
    bench_memb_reader_fini();
}

void bench_urcu_extra(void)
{
    bench_qsbr_reader_qs();
    bench_memb_reader_cs();
}
