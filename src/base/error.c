/* src/base/error.c - per-thread error messages, fault injection, the
 * monotonic clock and the page size. */
#include "base/base.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmodx/error.h"

/* Room for the longest message with its advice (the trampoline refusal
 * names the flag and the limits: more than 255 bytes). */
static _Thread_local char last_error[1024];

int cmodx_fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return err;
}

const char *cmodx_last_error(void)
{
    return last_error;
}

const char *cmodx_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case EINVAL: return "invalid argument (see cmodx_last_error)";
    case ENOMEM: return "out of memory or heap limit reached";
    case ENOSYS: return "facility not available on this system";
    case ETIMEDOUT: return "a thread did not respond in time";
    case EBUSY: return "resource already in use";
    case ENOTSUP: return "not supported on this architecture";
    case EPERM: return "operation not permitted";
    case EEXIST: return "already registered";
    case ENOENT: return "not registered";
    default: return strerror(err);
    }
}

/* Fault mask: bit 31 marks "environment already read". */
#define FAULTS_READ (1u << 31)
static unsigned fault_mask;

static unsigned faults_from_env(void)
{
    const char *e = getenv("CMODX_FAULT");
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"memfd", CMODX_FAULT_MEMFD},
                 {"membarrier", CMODX_FAULT_MEMBARRIER},
                 {"mmap", CMODX_FAULT_MMAP},
                 {"membarrier-later", CMODX_FAULT_MEMBARRIER_LATER},
                 {"patch-sync", CMODX_FAULT_PATCH_SYNC}};
    unsigned m = 0;
    while (e && *e) {
        /* One comma-separated name, matched whole ("membarrier" is not
         * "membarrier-later"). */
        size_t len = strcspn(e, ",");
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strlen(names[i].name) == len && strncmp(e, names[i].name, len) == 0)
                m |= names[i].bit;
        e += len;
        if (*e == ',')
            e++;
    }
    return m;
}

unsigned cmodx_debug_faults(void)
{
    unsigned m = __atomic_load_n(&fault_mask, __ATOMIC_ACQUIRE);
    if (!(m & FAULTS_READ)) {
        unsigned want = faults_from_env() | FAULTS_READ;
        /* Only the first reader installs the environment's value; an
         * explicit cmodx_debug_set_faults() always wins. */
        __atomic_compare_exchange_n(&fault_mask, &m, want, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
        m = __atomic_load_n(&fault_mask, __ATOMIC_ACQUIRE);
    }
    return m & ~FAULTS_READ;
}

void cmodx_debug_set_faults(unsigned mask)
{
    __atomic_store_n(&fault_mask, mask | FAULTS_READ, __ATOMIC_RELEASE);
}

int cmodx_fault_active(unsigned f)
{
    return (cmodx_debug_faults() & f) != 0;
}

uint64_t cmodx_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

size_t cmodx_page_size(void)
{
    static size_t page;
    size_t p = __atomic_load_n(&page, __ATOMIC_RELAXED);
    if (!p) {
        p = (size_t)sysconf(_SC_PAGESIZE);
        __atomic_store_n(&page, p, __ATOMIC_RELAXED);
    }
    return p;
}
