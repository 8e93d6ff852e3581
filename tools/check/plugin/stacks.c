/*
 * cmodx-check — call stacks for reports.
 *
 * AArch64 code built by GCC and Clang for Linux keeps frame records: x29
 * points at {previous x29, return address} (AAPCS64 6.4.6), so the stack is
 * the pc, the link register (the caller, when the function has not yet
 * saved it: a leaf or the first block of a function) and the chain.  A
 * shadow stack from BL/BLR/RET would also cover ARM and RISC-V, whose
 * Debian code has no frame pointer, at the price of a callback per call
 * and return on every thread; there the report gives the pc and the link
 * register only.
 */
#include "stacks.h"

#include <glib.h>
#include <qemu-plugin.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "syscall.h"

static struct qemu_plugin_register *ra_reg;   /* RISC-V's ra (x1) */
static bool ra_looked;

static uint64_t link_register(void)
{
    switch (cfg.arch) {
    case ARCH_AARCH64: return read_reg(30);
    case ARCH_ARM: return read_reg(14) & ~1ull;
    default: break;
    }
    if (!ra_looked) {
        GArray *regs = qemu_plugin_get_registers();
        for (guint i = 0; i < regs->len; i++) {
            qemu_plugin_reg_descriptor *d = &g_array_index(regs, qemu_plugin_reg_descriptor, i);
            if (strcmp(d->name, "ra") == 0) {
                ra_reg = d->handle;
            }
        }
        g_array_free(regs, TRUE);
        ra_looked = true;
    }
    uint64_t v = 0;
    if (ra_reg) {
        GByteArray *buf = g_byte_array_new();
        if (qemu_plugin_read_register(ra_reg, buf) > 0) {
            memcpy(&v, buf->data, buf->len < 8 ? buf->len : 8);
        }
        g_byte_array_free(buf, TRUE);
    }
    return v;
}

static void push(struct stack *s, uint64_t pc)
{
    if (s->n < STACK_DEPTH && pc && (s->n == 0 || s->pc[s->n - 1] != pc)) {
        s->pc[s->n++] = pc;
    }
}

void stacks_capture(uint64_t pc, struct stack *s)
{
    s->n = 0;
    push(s, pc);
    uint64_t lr = link_register();
    /* The return address is the instruction after the call: name the
     * call (lr - 4, or - 2 for a Thumb BL's second half: close enough). */
    push(s, lr ? lr - 4 : 0);
    if (cfg.arch != ARCH_AARCH64) {
        return;
    }
    uint64_t fp = read_reg(29);
    for (unsigned k = 0; k < STACK_DEPTH && fp && !(fp & 7); k++) {
        uint64_t rec[2];
        if (!guest_read(fp, rec, sizeof(rec)) || rec[1] == 0) {
            break;
        }
        uint64_t ret = (rec[1] & 0x00ffffffffffffffull) - 4;   /* PAC/TBI bits off */
        if (s->n < 2 || s->pc[1] != ret) {
            push(s, ret);
        }
        if (rec[0] <= fp) {
            break;   /* frames grow towards higher addresses */
        }
        fp = rec[0];
    }
}

/* ---- the first stack seen for each store pc ---- */

struct store_stack {
    uint64_t pc;
    struct stack s;
    struct store_stack *next;
};

#define SBUCKETS 1024
static struct store_stack *sbuckets[SBUCKETS];

void stacks_note_store(uint64_t pc)
{
    unsigned h = (unsigned)((pc >> 2) % SBUCKETS);
    for (struct store_stack *e = sbuckets[h]; e; e = e->next) {
        if (e->pc == pc) {
            return;
        }
    }
    struct store_stack *e = calloc(1, sizeof(*e));
    e->pc = pc;
    stacks_capture(pc, &e->s);
    e->next = sbuckets[h];
    sbuckets[h] = e;
}

const struct stack *stacks_of_store(uint64_t pc)
{
    for (struct store_stack *e = sbuckets[(pc >> 2) % SBUCKETS]; e; e = e->next) {
        if (e->pc == pc) {
            return &e->s;
        }
    }
    return NULL;
}
