/* cmodx-check — hazard reports (see report.c). */
#ifndef CMODX_REPORT_H
#define CMODX_REPORT_H

#include "cmodx_check.h"
#include "model.h"

struct report_out {
    const char *log_path;      /* NULL: stderr */
    const char *json_path;     /* NULL: no JSON */
    const char *status_path;   /* for the wrapper: "pid distinct occurrences" */
    const char *arch;
    uint64_t ctr;
    bool idc;
    size_t max_print;
    int first_pid;
};

const char *kind_name(enum kind k);
/* Reports of this kind are notes (see --replacements). */
bool report_is_note(enum kind k);

/*
 * Reads suppression rules from path (format in report.c and
 * docs/CHECKER.md); returns 0, or -1 after printing what is wrong.
 * Called once before the guest runs.
 */
int report_load_suppressions(const char *path);
/* Callers hold model_lock. */
void report_add(enum kind k, const struct vcpu *v, uint64_t pc, uint32_t insn,
                uint32_t mem, uint16_t writer, uint64_t store_pc);
/* The same for a store made by another process (xproc.c): writer is
 * that process's thread label. */
void report_add_foreign(enum kind k, const struct vcpu *v, uint64_t pc, uint32_t insn,
                        uint32_t mem, int writer_pid, uint16_t writer, uint64_t store_pc);
void report_write(const struct report_out *o, uint64_t checked, uint64_t writes);

#endif
