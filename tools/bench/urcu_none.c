/* tools/bench/urcu_none.c - stand-ins when liburcu was not found at build
 * time: the comparison is skipped and the report says so. */
#include "bench.h"

int bench_urcu_available(void) { return 0; }
void bench_urcu_init(void) {}
void bench_urcu_fini(void) {}
void bench_urcu_extra(void) {}
void bench_qsbr_writer_sync(void) {}
void bench_memb_writer_sync(void) {}
double bench_qsbr_qs_ns(uint64_t n) { (void)n; return 0; }
double bench_memb_cs_ns(uint64_t n) { (void)n; return 0; }
