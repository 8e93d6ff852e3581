/*
 * cmodx-check — stores that raise no memory callback.
 *
 * qemu performs some stores in helpers that write host memory directly,
 * without the plugin's memory callbacks.  On AArch64 these are the
 * FEAT_MOPS copies and sets (CPYF*, CPY*, SET*, SETG*: glibc 2.36 as
 * updated in Debian bookworm uses CPYF* for memcpy and SET* for memset
 * when the CPU has FEAT_MOPS, which qemu's default "max" CPU has) and the
 * cache-zeroing DC ZVA / DC GZVA (glibc's memset for large blocks).  Each
 * is recognised at translation and its effect computed from its operands
 * when it executes:
 *  - a MOPS sequence is prologue, main, epilogue (ARM ARM C6.2,
 *    "CPYFP, CPYFM, CPYFE"); the prologue's registers hold the whole
 *    operation (destination Xd, source Xs or byte Xs, size Xn), so the
 *    bytes it will leave in memory are handed to the model at the
 *    prologue: for a copy, the source's bytes as they are then (CPY* is a
 *    memmove, so those are the final bytes even when the ranges overlap);
 *  - DC ZVA zeroes the naturally aligned block of DCZID_EL0 size holding
 *    Xt.
 * Only pages that hold or may hold code reach the model.
 */
#include "stores.h"

#include <stdlib.h>
#include <string.h>

#include "maps.h"
#include "model.h"
#include "stacks.h"
#include "syscall.h"

unsigned stores_dczva_bytes = 64;   /* qemu's max, cortex-a57/a72/a76, neoverse-n1 */

enum bulk { B_SET = 1, B_COPY, B_ZVA };

struct bulk_insn {
    uint64_t pc;
    uint8_t kind, rd, rs, rn;
    const void *block;   /* stores_set_block */
};

void (*stores_written)(unsigned idx, uint64_t pc, uint64_t va, uint64_t len, const void *block);

/* Bytes a size register asks for: MOPS sizes are signed and saturate
 * (ARM ARM: values above 2^55 are treated as 2^55); a non-positive size
 * copies nothing. */
static uint64_t mops_size(uint64_t x)
{
    int64_t n = (int64_t)x;
    if (n <= 0) {
        return 0;
    }
    return (uint64_t)n > (1ull << 55) ? (1ull << 55) : (uint64_t)n;
}

static void copy_range(struct vcpu *v, uint64_t dst, uint64_t src, uint64_t len, uint64_t pc)
{
    uint8_t chunk[PAGE_SIZE];
    while (len > 0) {
        uint64_t room = PAGE_SIZE - (dst & (PAGE_SIZE - 1));
        unsigned n = (unsigned)(len < room ? len : room);
        if (page_tracked(dst)) {
            if (!guest_read(src, chunk, n)) {
                return;   /* the copy faults there */
            }
            model_store(v, dst, n, chunk, pc);
        }
        dst += n;
        src += n;
        len -= n;
    }
}

static void on_bulk(unsigned int idx, void *ud)
{
    const struct bulk_insn *b = ud;
    struct vcpu *v = cur(idx);
    uint64_t d = read_reg(b->rd) & 0x00ffffffffffffffull;   /* top-byte-ignore */
    uint64_t w_va = 0, w_len = 0;   /* written on tracked pages' behalf */
    pthread_mutex_lock(&model_lock);
    if (b->kind == B_ZVA) {
        uint64_t blk = stores_dczva_bytes;
        uint64_t start = d & ~(blk - 1);
        if (page_tracked(start)) {
            stacks_note_store(b->pc);
            sys_store_range(v, start, blk, NULL, 0, b->pc);
            w_va = start;
            w_len = blk;
        }
    } else {
        uint64_t n = mops_size(read_reg(b->rn));
        /* Cheap test first: does the range touch a tracked page at all? */
        bool any = false;
        for (uint64_t p = d & ~(uint64_t)(PAGE_SIZE - 1); n && p < d + n && !any; p += PAGE_SIZE) {
            any = page_tracked(p);
        }
        if (any) {
            stacks_note_store(b->pc);
            if (b->kind == B_SET) {
                sys_store_range(v, d, n, NULL, (int)(read_reg(b->rs) & 0xff), b->pc);
            } else {
                copy_range(v, d, read_reg(b->rs) & 0x00ffffffffffffffull, n, b->pc);
            }
            w_va = d;
            w_len = n;
        }
    }
    pthread_mutex_unlock(&model_lock);
    if (w_len && stores_written) {
        stores_written(idx, b->pc, w_va, w_len, b->block);
    }
}

/* The prologues only: the main and epilogue instructions finish the same
 * operation. */
static int decode_a64(uint32_t i, struct bulk_insn *b)
{
    if ((i & 0xfbe0cc00u) == 0x19c00400u) {          /* SETP, SETGP */
        b->kind = B_SET;
    } else if ((i & 0xfbe00c00u) == 0x19000400u) {   /* CPYFP, CPYP (all options) */
        b->kind = B_COPY;
    } else if ((i & 0xffffffe0u) == 0xd50b7420u ||   /* DC ZVA */
               (i & 0xffffffe0u) == 0xd50b7480u) {   /* DC GZVA */
        b->kind = B_ZVA;
        b->rd = (uint8_t)(i & 31);
        return 1;
    } else {
        return 0;
    }
    b->rd = (uint8_t)(i & 31);
    b->rn = (uint8_t)((i >> 5) & 31);
    b->rs = (uint8_t)((i >> 16) & 31);
    return 1;
}

void stores_set_block(void *h, const void *block)
{
    ((struct bulk_insn *)h)->block = block;
}

void *stores_instrument(struct qemu_plugin_insn *insn, uint64_t va, uint32_t i, size_t size)
{
    struct bulk_insn b = { .pc = va };
    if (cfg.arch != ARCH_AARCH64 || size != 4 || !decode_a64(i, &b)) {
        return NULL;
    }
    /* Kept for the life of the translation (the API has no hook for its
     * end); these instructions are few. */
    struct bulk_insn *p = malloc(sizeof(*p));
    *p = b;
    qemu_plugin_register_vcpu_insn_exec_cb(insn, on_bulk, QEMU_PLUGIN_CB_R_REGS, p);
    return p;
}
