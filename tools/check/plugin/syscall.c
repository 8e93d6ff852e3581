/*
 * cmodx-check — what the kernel does for the guest.
 *
 * Under qemu-user the guest's system calls are the host's: the plugin sees
 * each one before and after it runs (syscall callbacks) and keeps the
 * mappings (maps.c) and the model (model.c) in step with what Linux would
 * have done.  ARM's cacheflush and RISC-V's riscv_flush_icache are handled
 * by qemu's CPU loop without a syscall callback, so they are read at the
 * SVC/ECALL instruction (sys_private_call).
 */
#include <glib.h>
#include <qemu-plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maps.h"
#include "model.h"
#include "syscall.h"

#define MAX_HANDLERS 128
static uint64_t handlers[MAX_HANDLERS];   /* signal handler entry points */
static unsigned nhandlers;

/* Syscall numbers of the three guests (asm-generic for aarch64/riscv64). */
struct sysnums {
    int64_t mmap, mprotect, munmap, mremap, membarrier, rt_sigaction, write, pwrite;
    unsigned mmap_shift;   /* ARM's mmap2 counts the offset in 4 KiB units */
};
static struct sysnums sn;

bool sys_set_arch(const char *target)
{
    if (strcmp(target, "aarch64") == 0) {
        cfg.arch = ARCH_AARCH64;
        sn = (struct sysnums){ 222, 226, 215, 216, 283, 134, 64, 68, 0 };
    } else if (strcmp(target, "arm") == 0) {
        cfg.arch = ARCH_ARM;
        sn = (struct sysnums){ 192, 125, 91, 163, 389, 174, 4, 181, 12 };
    } else if (strcmp(target, "riscv64") == 0) {
        cfg.arch = ARCH_RISCV64;
        sn = (struct sysnums){ 222, 226, 215, 216, 283, 134, 64, 68, 0 };
    } else {
        return false;
    }
    return true;
}

bool sys_is_handler(uint64_t va)
{
    for (unsigned k = 0; k < nhandlers; k++) {
        if ((handlers[k] & ~1ull) == va) {
            return true;
        }
    }
    return false;
}

unsigned sys_nhandlers(void)
{
    return __atomic_load_n(&nhandlers, __ATOMIC_ACQUIRE);
}

/* ---- the private cache-flush calls ---- */

static void arm_private_syscall(struct vcpu *v)
{
    if ((uint32_t)read_reg(7) == 0x0f0002) {   /* __ARM_NR_cacheflush */
        model_cacheflush(v, (uint32_t)read_reg(0), (uint32_t)read_reg(1));
        /* Its exception return synchronises the caller's context (the
         * syscall-return callback does not see these private calls). */
        model_csync(v);
    }
}

static void riscv_private_syscall(struct vcpu *v)
{
    if (read_reg(7) != 259) {   /* __NR_riscv_flush_icache */
        return;
    }
    if (read_reg(2) & 1) {      /* SYS_RISCV_FLUSH_ICACHE_LOCAL */
        model_local_flush(v);
    } else {
        model_global_sync();
    }
}

void sys_private_call(struct vcpu *v)
{
    if (cfg.arch == ARCH_ARM) {
        arm_private_syscall(v);
    } else if (cfg.arch == ARCH_RISCV64) {
        riscv_private_syscall(v);
    }
}

/* ---- system calls ---- */

static void on_syscall(qemu_plugin_id_t id, unsigned int idx, int64_t num, uint64_t a1,
                       uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6,
                       uint64_t a7, uint64_t a8)
{
    (void)id;
    (void)a7;
    (void)a8;
    struct vcpu *v = cur(idx);
    v->sc_num = num;
    uint64_t a[6] = { a1, a2, a3, a4, a5, a6 };
    memcpy(v->sc_args, a, sizeof(a));
    if (num == sn.rt_sigaction && a2) {
        /* sa_handler is the first member of the kernel's sigaction. */
        GByteArray *buf = g_byte_array_new();
        unsigned w = cfg.arch == ARCH_ARM ? 4 : 8;
        if (qemu_plugin_read_memory_vaddr(a2, buf, w)) {
            uint64_t h = 0;
            memcpy(&h, buf->data, w);
            pthread_mutex_lock(&model_lock);
            if (h > 1 && !sys_is_handler(h) && nhandlers < MAX_HANDLERS) {
                handlers[nhandlers] = h;
                __atomic_store_n(&nhandlers, nhandlers + 1, __ATOMIC_RELEASE);
            }
            pthread_mutex_unlock(&model_lock);
        }
        g_byte_array_free(buf, TRUE);
    }
}

/*
 * write/pwrite into a memfd (a guest fd is the host fd under qemu-user, so
 * the plugin can fstat it and read its offset).
 */
static void file_write(struct vcpu *v, int64_t num, int64_t ret)
{
    const uint64_t *a = v->sc_args;
    int fd = (int)a[0];
    char link[64], target[32];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    struct stat st;
    if (n < 7 || strncmp(target, "/memfd:", 7) != 0 || fstat(fd, &st) != 0) {
        return;
    }
    uint64_t off;
    if (num == sn.pwrite) {
        /* ARM EABI passes the 64-bit offset in an aligned pair: r4, r5. */
        off = cfg.arch == ARCH_ARM ? (a[4] & 0xffffffffu) | a[5] << 32 : a[3];
    } else {
        off_t end = lseek(fd, 0, SEEK_CUR);
        if (end < ret) {
            return;
        }
        off = (uint64_t)(end - ret);
    }
    model_file_write(v, (uint64_t)st.st_dev, (uint64_t)st.st_ino, off, (uint64_t)ret);
}

static void on_syscall_ret(qemu_plugin_id_t id, unsigned int idx, int64_t num, int64_t ret)
{
    (void)id;
    struct vcpu *v = cur(idx);
    const uint64_t *a = v->sc_args;
    bool ok = ret >= 0 || ret < -4095;
    pthread_mutex_lock(&model_lock);
    if (num == sn.mmap && ok) {
        maps_add((uint64_t)ret, a[1], (int)a[2], (int)a[3], (int)a[4], a[5] << sn.mmap_shift);
    } else if (num == sn.mprotect && ret == 0) {
        maps_protect(a[0], a[1], (int)a[2], model_made_exec);
    } else if (num == sn.munmap && ret == 0) {
        maps_unmap(a[0], a[1]);
    } else if (num == sn.mremap && ok) {
        maps_move(a[0], a[1], (uint64_t)ret, a[2]);
    } else if ((num == sn.write || num == sn.pwrite) && ret > 0) {
        file_write(v, num, ret);
    } else if (num == sn.membarrier && ret >= 0 && a[0] == 32 && !(a[1] & 1)) {
        /* MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE: every thread has
         * executed a core serialising instruction when it returns (with
         * MEMBARRIER_CMD_FLAG_CPU only those on one CPU: not counted). */
        model_global_sync();
    }
    /* Returning from the syscall exception is context synchronising on
     * ARM; RISC-V's sret does not order instruction fetch. */
    if (cfg.arch != ARCH_RISCV64) {
        model_csync(v);
    }
    pthread_mutex_unlock(&model_lock);
}

void sys_register(qemu_plugin_id_t id)
{
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_vcpu_syscall_ret_cb(id, on_syscall_ret);
}
