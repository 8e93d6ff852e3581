/* tools/bench/urcu_memb.c - liburcu's membarrier flavour (urcu-memb), with
 * its inline fast paths (_LGPL_SOURCE), behind plain functions. */
#define _LGPL_SOURCE
#include <urcu/urcu-memb.h>

#include "bench.h"

void bench_memb_reader_init(void) { urcu_memb_register_thread(); }
void bench_memb_reader_fini(void) { urcu_memb_unregister_thread(); }

void bench_memb_reader_cs(void)
{
    urcu_memb_read_lock();
    urcu_memb_read_unlock();
}

void bench_memb_writer_sync(void) { urcu_memb_synchronize_rcu(); }

__attribute__((noinline)) double bench_memb_cs_ns(uint64_t n)
{
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        urcu_memb_read_lock();
        urcu_memb_read_unlock();
        __asm__ volatile("" ::: "memory");
    }
    return (double)(now_ns() - t0) / (double)n;
}
