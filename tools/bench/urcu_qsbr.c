/* tools/bench/urcu_qsbr.c - liburcu's QSBR flavour, with its inline fast
 * paths (_LGPL_SOURCE), behind plain functions for the benchmark.  Each
 * flavour lives in its own file: their headers map the same rcu_* names. */
#define _LGPL_SOURCE
#include <urcu/urcu-qsbr.h>

#include "bench.h"

void bench_qsbr_reader_init(void) { urcu_qsbr_register_thread(); }
void bench_qsbr_reader_fini(void) { urcu_qsbr_unregister_thread(); }
void bench_qsbr_reader_qs(void) { urcu_qsbr_quiescent_state(); }
void bench_qsbr_writer_sync(void) { urcu_qsbr_synchronize_rcu(); }

/* The same loop shape as cmodx_qs_ns() in grace.c; the calling thread is
 * registered. */
__attribute__((noinline)) double bench_qsbr_qs_ns(uint64_t n)
{
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        urcu_qsbr_quiescent_state();
        __asm__ volatile("" ::: "memory");
    }
    return (double)(now_ns() - t0) / (double)n;
}
