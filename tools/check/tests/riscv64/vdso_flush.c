/*
 * __builtin___clear_cache on RISC-V Linux is glibc's __riscv_flush_icache,
 * which calls the vDSO's __vdso_flush_icache: the riscv_flush_icache system
 * call (qemu's vDSO only returns 0).  It is the standard fix and must count
 * as the flags-0 flush.  The system call validates its flags: any bit but
 * SYS_RISCV_FLUSH_ICACHE_LOCAL is EINVAL and flushes nothing.
 *
 * RUN: builtin => clean
 * RUN: glibc => clean
 * RUN: flags2 => no-fence-i
 * RUN: vdso-flags2 => no-fence-i
 * RUN: none => no-fence-i
 */
#include "common.h"

#include <pthread.h>
#include <sys/cachectl.h>

static struct dual d;
static int flag, ready;

static void *consumer(void *arg)
{
    (void)arg;
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&flag, __ATOMIC_ACQUIRE)) {
    }
    return (void *)(intptr_t)as_fn(d.rx)();
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "builtin";
    d = dual_map(4096);
    pthread_t t;
    pthread_create(&t, NULL, consumer, NULL);
    /* The consumer runs before the code exists (a new thread's start is a
     * synchronisation of its own). */
    while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
    }
    const uint32_t code[] = { RV_LI_A0(5), RV_RET };
    emit(d.rw, code, 2);
    if (strcmp(mode, "builtin") == 0) {
        __builtin___clear_cache((char *)d.rx, (char *)d.rx + 8);
    } else if (strcmp(mode, "glibc") == 0) {
        __riscv_flush_icache((void *)d.rx, (char *)d.rx + 8, 0);
    } else if (strcmp(mode, "flags2") == 0) {
        /* EINVAL on Linux (qemu returns 0) */
        (void)syscall(NR_riscv_flush_icache, d.rx, (char *)d.rx + 8, 2);
    } else if (strcmp(mode, "vdso-flags2") == 0) {
        (void)__riscv_flush_icache((void *)d.rx, (char *)d.rx + 8, 2);
    }
    __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
    void *r;
    pthread_join(t, &r);
    printf("vdso_flush %s: %d\n", mode, (int)(intptr_t)r);
    return (intptr_t)r == 5 ? 0 : 1;
}
