/*
 * cmodx-check — stores that raise no memory callback (stores.c).
 */
#ifndef CMODX_STORES_H
#define CMODX_STORES_H

#include <qemu-plugin.h>
#include <stddef.h>
#include <stdint.h>

/* The DC ZVA block size in bytes (4 << DCZID_EL0.BS of the CPU model). */
extern unsigned stores_dczva_bytes;

/*
 * If the instruction (bytes i, size bytes long, at va) is a store that
 * qemu performs without memory callbacks, registers a callback that hands
 * its bytes to the model.  Called at translation, model_lock held.
 */
void stores_instrument(struct qemu_plugin_insn *insn, uint64_t va, uint32_t i, size_t size);

#endif
