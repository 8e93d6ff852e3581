/*
 * cmodx-check — hazard reports: identical ones are counted, not repeated;
 * written at exit as text and optionally JSON.
 */
#include "report.h"

#include <fnmatch.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stacks.h"
#include "symbols.h"
#include "syscall.h"

static const char *const kind_names[K_COUNT] = {
    [K_NOT_CLEANED] = "not-cleaned",
    [K_CLEAN_NOT_COMPLETED] = "clean-not-completed",
    [K_NOT_INVALIDATED] = "not-invalidated",
    [K_INVAL_NOT_COMPLETED] = "invalidate-not-completed",
    [K_NO_CONTEXT_SYNC] = "no-context-sync",
    [K_NO_CACHEFLUSH] = "no-cacheflush",
    [K_NO_FENCE_I] = "no-fence-i",
    [K_LOCAL_FLUSH_ONLY] = "local-flush-only",
    [K_STALE_TRANSLATION] = "stale-translation",
    [K_STALE_REPLACEMENT] = "stale-replacement",
    [K_MAINT_FAULT] = "maintenance-fault",
    [K_FENCE_I_MIGRATION] = "fence-i-may-migrate",
};

/*
 * The CTR_EL0 bits the advice depends on: IDC=1 (bit 28) waives the clean,
 * DIC=1 (bit 29) the invalidate (ARM ARM D19.2.34).  With both, a DSB after
 * the stores and the executing thread's context synchronisation are all
 * that is required, and advice naming DC CVAU or IC IVAU would be wrong.
 */
#define CTR_IDC(ctr) (((ctr) >> 28) & 1)
#define CTR_DIC(ctr) (((ctr) >> 29) & 1)

static const char *missing_text(enum kind k, uint64_t ctr)
{
    bool idc = CTR_IDC(ctr), dic = CTR_DIC(ctr);
    switch (k) {
    case K_NOT_CLEANED:
        return "DC CVAU (clean to the Point of Unification) of the line after the store";
    case K_CLEAN_NOT_COMPLETED:
        return idc && dic ? "a DSB by the writer between the store and the context "
                            "synchronisation (CTR_EL0.IDC=1, DIC=1: no clean or invalidate needed)"
               : idc ? "a DSB by the writer between the store and the IC IVAU (CTR_EL0.IDC=1)"
                     : "a DSB by the cleaning thread between DC CVAU and IC IVAU";
    case K_NOT_INVALIDATED:
        return "IC IVAU (invalidate to the PoU) of the line after the clean completed";
    case K_INVAL_NOT_COMPLETED:
        return "a DSB by the invalidating thread after IC IVAU";
    case K_NO_CONTEXT_SYNC:
        return "a context synchronisation (ISB, exception return, membarrier SYNC_CORE) "
               "on the executing thread after the maintenance completed";
    case K_NO_CACHEFLUSH:
        return "cacheflush(2) over the written range";
    case K_NO_FENCE_I:
        return "riscv_flush_icache(2) with flags 0 after the store (or fence.i on the executing "
               "thread once prctl(PR_RISCV_SET_ICACHE_FLUSH_CTX) asked Linux to keep it across "
               "migrations)";
    case K_LOCAL_FLUSH_ONLY:
        return "an instruction-cache flush reaching this hart: the flush after the store was "
               "local to another hart (fence.i or riscv_flush_icache LOCAL)";
    case K_STALE_TRANSLATION:
        return "nothing on hardware (every required step was done for this thread, so the "
               "hardware fetches the new bytes); but QEMU executed a stale translation whose "
               "bytes differ from memory (code rewritten through another mapping): "
               "results under QEMU are not those of the hardware";
    case K_STALE_REPLACEMENT:
        return "nothing if the old instruction may run forever: this store replaced one of "
               "B, BL, NOP, BRK, SVC, HVC, SMC, ISB by another (ARM ARM B2.2.5: the old or the "
               "new one runs, never a mix), but nothing orders the new one before this fetch, "
               "so it may never be seen (herd7: MP.RF+dmb.st+ctrlisb); the steps above make it "
               "visible";
    case K_MAINT_FAULT:
        return "nothing: this is a crash on hardware.  DC CVAU and IC IVAU are checked as "
               "reads of their address (ARM ARM D7.5.9): on memory the program cannot read "
               "they fault (SIGSEGV); QEMU ignores the fault.  Maintain only the written range";
    case K_FENCE_I_MIGRATION:
        return "a flush that survives migration: this thread ran fence.i after the store, but "
               "Linux may have moved it to another hart since (fence.i orders only the hart it "
               "runs on); use riscv_flush_icache(2) (what __builtin___clear_cache does), or "
               "prctl(PR_RISCV_SET_ICACHE_FLUSH_CTX, PR_RISCV_CTX_SW_FENCEI_ON, scope) first";
    default:
        return "?";
    }
}

/* One line per kind: how a C program usually fixes it (docs/CHECKER.md,
 * "How to fix each kind"), printed under "missing". */
static const char *fix_text(enum kind k, uint64_t ctr)
{
    if (k == K_CLEAN_NOT_COMPLETED && CTR_IDC(ctr) && CTR_DIC(ctr)) {
        return "DSB ISH after the last store, before the code's address is published (then an "
               "ISB on the executing thread), or __builtin___clear_cache, which does that";
    }
    switch (k) {
    case K_NOT_CLEANED:
    case K_NOT_INVALIDATED:
        return "__builtin___clear_cache(start, end) (or cmodx_make_visible) over the written "
               "range after the last store, before the code's address is published";
    case K_CLEAN_NOT_COMPLETED:
        return CTR_IDC(ctr) ? "DSB ISH between the stores and the IC IVAU loop (CTR_EL0.IDC=1: no DC "
                              "CVAU needed), or __builtin___clear_cache instead of hand-written "
                              "maintenance"
               : "DSB ISH between the DC CVAU loop and the IC IVAU loop (with IDC=1, between the "
               "stores and IC IVAU), or __builtin___clear_cache instead of hand-written maintenance";
    case K_INVAL_NOT_COMPLETED:
        return "DSB ISH after the IC IVAU loop, or __builtin___clear_cache instead of "
               "hand-written maintenance";
    case K_NO_CONTEXT_SYNC:
        return "ISB on the executing thread after it learns of the new code, or the writer calls "
               "membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) after the maintenance and "
               "before publishing, or call through cmodx slots";
    case K_NO_CACHEFLUSH:
        return "__builtin___clear_cache(start, end) (syscall(__ARM_NR_cacheflush, start, end, 0)) "
               "over the written range after the last store";
    case K_NO_FENCE_I:
        return "__builtin___clear_cache(start, end) or riscv_flush_icache(start, end, 0) "
               "(flags 0: every hart) after the last store";
    case K_LOCAL_FLUSH_ONLY:
        return "riscv_flush_icache(start, end, 0) (flags 0, not SYS_RISCV_FLUSH_ICACHE_LOCAL) or "
               "__builtin___clear_cache after the last store";
    case K_FENCE_I_MIGRATION:
        return "riscv_flush_icache(start, end, 0) or __builtin___clear_cache instead of fence.i, "
               "or prctl(PR_RISCV_SET_ICACHE_FLUSH_CTX, PR_RISCV_CTX_SW_FENCEI_ON, scope) first";
    case K_STALE_TRANSLATION:
        return "none on hardware if no step is missing; under QEMU, run code rewritten through "
               "another mapping only after an IC IVAU of it (AArch64), or do not trust QEMU's result";
    case K_STALE_REPLACEMENT:
        return "none if the old instruction may run for ever; otherwise, after the patch, "
               "__builtin___clear_cache and a context synchronisation (membarrier SYNC_CORE), "
               "as cmodx_patch_* do";
    case K_MAINT_FAULT:
        return "maintain only the range that was written, on a mapping the program can read "
               "(not PROT_EXEC alone, not unmapped)";
    case K_COUNT: /* no default: -Wswitch (-Wall -Werror) catches a kind without a fix */
        break;
    }
    return "?";
}

/* A note is printed but counts as no hazard (exit status, totals).
 * stale-translation is reported only when the model finds every step the
 * architecture requires done for the executing thread (plugin.c, settled):
 * the hardware would fetch the new bytes, only qemu ran old ones.  It has
 * no hardware counterpart, so it says the emulator's result is not the
 * hardware's and never fails the program. */
bool report_is_note(enum kind k)
{
    return (k == K_STALE_REPLACEMENT && cfg.repl == REPL_NOTE) || k == K_STALE_TRANSLATION;
}

const char *kind_name(enum kind k)
{
    return kind_names[k];
}

struct report {
    enum kind kind;
    uint64_t exec_pc, store_pc;
    uint16_t exec_label, writer_label;
    uint32_t insn, mem;
    uint64_t count;
    int pid;
    bool suppressed;
    struct stack exec_stack;      /* captured at the first occurrence */
    char *exec_where, *store_where;
    struct report *next;
    int writer_pid;               /* another process's store (xproc.c); 0: this one's */
};

/* ---- suppressions ---- */

/*
 * One rule per line: KIND EXEC-PATTERN [STORE-PATTERN], separated by
 * blanks; '#' starts a comment.  KIND is a report kind or '*'; a pattern
 * is a shell glob (fnmatch) matched against "function@file" of the
 * executed (or storing) pc: e.g. "*@libnode.so*", "Builtins_*@*",
 * "jit_entry@myprog".  A missing STORE-PATTERN is '*'.  A matching report
 * is counted as suppressed, not printed, and not a hazard.
 */
struct supp {
    char kind[48], exec[256], store[256];
    uint64_t used;
};
static struct supp *supps;
static size_t nsupps;
static uint64_t nsuppressed;

int report_load_suppressions(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    char line[1024];
    int lineno = 0, bad = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "#\n")] = 0;
        struct supp r = { .store = "*" };
        char extra[2];
        /* A fourth field is an error, not ignored: a rule that was meant
         * to say more than it does would suppress more than meant. */
        int n = sscanf(line, "%47s %255s %255s %1s", r.kind, r.exec, r.store, extra);
        if (n <= 0) {
            continue;
        }
        bool known = strcmp(r.kind, "*") == 0;
        for (int k = 0; k < K_COUNT && !known; k++) {
            known = strcmp(r.kind, kind_names[k]) == 0;
        }
        if (!known) {
            fprintf(stderr, "cmodx-check: %s:%d: unknown report kind '%s'\n", path, lineno,
                    r.kind);
            bad = 1;
            continue;
        }
        if (n < 2 || n > 3) {
            fprintf(stderr, "cmodx-check: %s:%d: expected KIND EXEC-PATTERN [STORE-PATTERN], "
                    "got %s fields: %s\n", path, lineno, n < 2 ? "1" : "more than 3", line);
            bad = 1;
            continue;
        }
        supps = realloc(supps, (nsupps + 1) * sizeof(*supps));
        supps[nsupps++] = r;
    }
    fclose(f);
    return bad ? -1 : 0;
}

static void fn_at_file(uint64_t pc, char *buf, size_t n)
{
    char fn[256], file[300];
    syms_names(pc, fn, sizeof(fn), file, sizeof(file));
    snprintf(buf, n, "%s@%s", fn, file);
}

static bool suppressed(enum kind k, uint64_t pc, uint64_t store_pc)
{
    if (!nsupps) {
        return false;
    }
    char ex[600], st[600];
    fn_at_file(pc, ex, sizeof(ex));
    if (store_pc) {
        fn_at_file(store_pc, st, sizeof(st));
    } else {
        snprintf(st, sizeof(st), "@");
    }
    for (size_t i = 0; i < nsupps; i++) {
        struct supp *r = &supps[i];
        if ((strcmp(r->kind, "*") == 0 || strcmp(r->kind, kind_names[k]) == 0) &&
            fnmatch(r->exec, ex, 0) == 0 && fnmatch(r->store, st, 0) == 0) {
            r->used++;
            return true;
        }
    }
    return false;
}

#define RBUCKETS 4096
#define MAX_DISTINCT 100000
static struct report *rbuckets[RBUCKETS];
static struct report **order;
static size_t nreports, capreports;

void report_add(enum kind k, const struct vcpu *v, uint64_t pc, uint32_t insn,
                uint32_t mem, uint16_t writer, uint64_t store_pc)
{
    report_add_foreign(k, v, pc, insn, mem, 0, writer, store_pc);
}

void report_add_foreign(enum kind k, const struct vcpu *v, uint64_t pc, uint32_t insn,
                        uint32_t mem, int writer_pid, uint16_t writer, uint64_t store_pc)
{
    if (k == K_NO_FENCE_I && writer_pid == 0 && sys_fence_i_after(v, pc)) {
        /* (Another process's store: xproc.c decided the kind by its time.) */
        k = K_FENCE_I_MIGRATION;
    }
    int pid = getpid();
    uint64_t h = (pc * 31 + store_pc) * 31 + (uint64_t)k * 7 + v->label * 131u + writer +
                 (uint64_t)writer_pid * 8191u;
    h %= RBUCKETS;
    for (struct report *r = rbuckets[h]; r; r = r->next) {
        if (r->kind == k && r->exec_pc == pc && r->store_pc == store_pc &&
            r->exec_label == v->label && r->writer_label == writer && r->pid == pid &&
            r->writer_pid == writer_pid) {
            r->count++;
            if (r->suppressed) {
                nsuppressed++;
            }
            return;
        }
    }
    if (nreports >= MAX_DISTINCT) {
        return;
    }
    struct report *r = calloc(1, sizeof(*r));
    *r = (struct report){ k, pc, store_pc, v->label, writer, insn, mem, 1, pid, false,
                          { 0 }, NULL, NULL, rbuckets[h], writer_pid };
    /* Named now: the mapping may be gone at exit (JIT code freed, a
     * library unloaded), and the registers are those of this moment. */
    char buf[700];
    syms_describe(pc, buf, sizeof(buf));
    r->exec_where = strdup(buf);
    if (store_pc && k != K_MAINT_FAULT) {
        syms_describe(store_pc, buf, sizeof(buf));
        r->store_where = strdup(buf);
    }
    stacks_capture(pc, &r->exec_stack);
    r->suppressed = suppressed(k, pc, k == K_MAINT_FAULT ? 0 : store_pc);
    if (r->suppressed) {
        nsuppressed++;
    }
    rbuckets[h] = r;
    if (nreports == capreports) {
        capreports = capreports ? 2 * capreports : 64;
        order = realloc(order, capreports * sizeof(*order));
    }
    order[nreports++] = r;
}

static void thread_name(char *buf, size_t n, uint16_t label)
{
    if (label == 0) {
        snprintf(buf, n, "an unknown thread");
    } else {
        snprintf(buf, n, "thread %u (tid %d)", label, label_tid[label]);
    }
}

static void print_stack(FILE *f, const struct stack *s, unsigned from)
{
    for (unsigned k = from; s && k < s->n; k++) {
        char buf[700];
        syms_describe(s->pc[k], buf, sizeof(buf));
        fprintf(f, "              %s 0x%llx %s\n", k == 0 ? "at" : "by",
                (unsigned long long)s->pc[k], buf);
    }
}

static void print_one(FILE *f, const struct report *r, uint64_t ctr)
{
    char ex[64], wr[64];
    thread_name(ex, sizeof(ex), r->exec_label);
    thread_name(wr, sizeof(wr), r->writer_label);
    fprintf(f, "cmodx-check: %s %s (x%llu)\n", report_is_note(r->kind) ? "note" : "hazard",
            kind_names[r->kind],
            (unsigned long long)r->count);
    if (r->kind == K_MAINT_FAULT) {
        fprintf(f, "    maintained pc 0x%llx %s by %s, instruction 0x%08x\n",
                (unsigned long long)r->exec_pc, r->exec_where, ex, r->insn);
        fprintf(f, "    address   0x%llx is not mapped readable\n",
                (unsigned long long)r->store_pc);
        print_stack(f, &r->exec_stack, 1);
        fprintf(f, "    missing   %s\n", missing_text(r->kind, ctr));
        fprintf(f, "    fix       %s\n", fix_text(r->kind, ctr));
        return;
    }
    fprintf(f, "    executed  pc 0x%llx %s by %s, instruction 0x%08x\n",
            (unsigned long long)r->exec_pc, r->exec_where, ex, r->insn);
    print_stack(f, &r->exec_stack, 1);
    if (r->kind == K_STALE_TRANSLATION) {
        fprintf(f, "    memory    holds 0x%08x at that address\n", r->mem);
    } else if (r->writer_pid && r->store_pc) {
        /* Another process's store (xproc.c): its thread labels and stacks
         * are its own; the pc names its program image as of the fork. */
        fprintf(f, "    written   by process %d (its thread %u), store at pc 0x%llx %s\n",
                r->writer_pid, r->writer_label, (unsigned long long)r->store_pc,
                r->store_where);
    } else if (r->writer_pid) {
        fprintf(f, "    written   by process %d (its thread %u) through a system call\n",
                r->writer_pid, r->writer_label);
    } else if (r->store_pc) {
        fprintf(f, "    written   by %s, store at pc 0x%llx %s\n", wr,
                (unsigned long long)r->store_pc, r->store_where);
        print_stack(f, stacks_of_store(r->store_pc), 1);
    } else if (r->writer_label) {
        fprintf(f, "    written   by %s through a system call (a file write into a memfd, "
                   "or read/readv/recv... into the buffer)\n", wr);
    } else {
        fprintf(f, "    written   before the page was first maintained or made executable "
                   "(store not seen)\n");
    }
    fprintf(f, "    missing   %s\n", missing_text(r->kind, ctr));
    fprintf(f, "    fix       %s\n", fix_text(r->kind, ctr));
}

struct totals {
    uint64_t hazards, distinct[K_COUNT], occurrences[K_COUNT];
};

static struct totals count_all(int pid)
{
    struct totals t = { 0 };
    for (size_t i = 0; i < nreports; i++) {
        if (order[i]->pid == pid && !order[i]->suppressed) {
            if (!report_is_note(order[i]->kind)) {
                t.hazards += order[i]->count;
            }
            t.distinct[order[i]->kind]++;
            t.occurrences[order[i]->kind] += order[i]->count;
        }
    }
    return t;
}

static void print_summary(FILE *f, const struct totals *t, size_t ndistinct,
                          uint64_t checked, uint64_t writes)
{
    fprintf(f, "cmodx-check: summary: %llu instructions checked, %llu code writes tracked, "
               "%llu hazards (%zu distinct)",
            (unsigned long long)checked, (unsigned long long)writes,
            (unsigned long long)t->hazards, ndistinct);
    const char *sep = ": ";
    for (int k = 0; k < K_COUNT; k++) {
        if (t->distinct[k]) {
            fprintf(f, "%s%s %llu", sep, kind_names[k], (unsigned long long)t->distinct[k]);
            sep = ", ";
        }
    }
    fputc('\n', f);
}

/* s as the inside of a JSON string (NULL: empty). */
static void json_str(char *buf, size_t n, const char *s)
{
    size_t k = 0;
    for (; s && *s && k + 7 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[k++] = '\\';
            buf[k++] = (char)c;
        } else if (c < 0x20) {
            k += (size_t)snprintf(buf + k, n - k, "\\u%04x", c);
        } else {
            buf[k++] = (char)c;
        }
    }
    buf[k] = 0;
}

static void json_out(FILE *f, const struct totals *t, size_t ndistinct, uint64_t checked,
                     uint64_t writes, const char *arch, uint64_t ctr, int pid)
{
    fprintf(f, "{\n  \"tool\": \"cmodx-check\",\n  \"arch\": \"%s\",\n  \"ctr_el0\": \"0x%llx\",\n"
               "  \"pid\": %d,\n  \"instructions_checked\": %llu,\n  \"code_writes_tracked\": %llu,\n"
               "  \"hazards\": %llu,\n  \"distinct\": %zu,\n  \"by_kind\": {",
            arch, (unsigned long long)ctr, pid, (unsigned long long)checked,
            (unsigned long long)writes, (unsigned long long)t->hazards, ndistinct);
    const char *sep = "";
    for (int k = 0; k < K_COUNT; k++) {
        if (t->distinct[k]) {
            fprintf(f, "%s\"%s\": %llu", sep, kind_names[k], (unsigned long long)t->distinct[k]);
            sep = ", ";
        }
    }
    fprintf(f, "},\n  \"reports\": [");
    sep = "\n";
    for (size_t i = 0; i < nreports; i++) {
        const struct report *r = order[i];
        if (r->pid != pid || r->suppressed) {
            continue;
        }
        char ew[800], sw[800];
        json_str(ew, sizeof(ew), r->exec_where);
        json_str(sw, sizeof(sw), r->store_where);
        fprintf(f, "%s    {\"kind\": \"%s\", \"count\": %llu, \"exec_pc\": \"0x%llx\", "
                   "\"exec_at\": \"%s\", "
                   "\"exec_thread\": %u, \"exec_tid\": %d, \"insn\": \"0x%08x\", "
                   "\"store_pc\": \"0x%llx\", \"store_at\": \"%s\", \"writer_thread\": %u, "
                   "\"writer_tid\": %d, \"writer_pid\": %d, \"missing\": \"%s\", "
                   "\"exec_stack\": [",
                sep, kind_names[r->kind], (unsigned long long)r->count,
                (unsigned long long)r->exec_pc, ew, r->exec_label, label_tid[r->exec_label],
                r->insn, (unsigned long long)r->store_pc, sw, r->writer_label,
                r->writer_label && !r->writer_pid ? label_tid[r->writer_label] : 0,
                r->writer_pid ? r->writer_pid : pid, missing_text(r->kind, ctr));
        for (unsigned k = 0; k < r->exec_stack.n; k++) {
            fprintf(f, "%s\"0x%llx\"", k ? ", " : "", (unsigned long long)r->exec_stack.pc[k]);
        }
        fprintf(f, "]}");
        sep = ",\n";
    }
    fprintf(f, "\n  ]\n}\n");
}

void report_write(const struct report_out *o, uint64_t checked, uint64_t writes)
{
    int pid = getpid();
    struct totals t = count_all(pid);
    size_t nd = 0;
    for (int k = 0; k < K_COUNT; k++) {
        nd += t.distinct[k];
    }
    FILE *f = o->log_path ? fopen(o->log_path, "a") : NULL;
    FILE *out = f ? f : stderr;
    if (pid != o->first_pid) {
        fprintf(out, "cmodx-check: process %d (forked from %d; its thread ids are the parent's):\n",
                pid, o->first_pid);
    }
    size_t printed = 0;
    for (size_t i = 0; i < nreports && printed < o->max_print; i++) {
        if (order[i]->pid == pid && !order[i]->suppressed) {
            print_one(out, order[i], o->ctr);
            printed++;
        }
    }
    if (nd > printed) {
        fprintf(out, "cmodx-check: (%zu more distinct reports not printed)\n", nd - printed);
    }
    print_summary(out, &t, nd, checked, writes);
    if (nsupps) {
        fprintf(out, "cmodx-check: %llu occurrences suppressed by %zu rules:",
                (unsigned long long)nsuppressed, nsupps);
        for (size_t i = 0; i < nsupps; i++) {
            fprintf(out, " [%s %s %s: %llu]", supps[i].kind, supps[i].exec, supps[i].store,
                    (unsigned long long)supps[i].used);
        }
        fputc('\n', out);
    }
    if (f) {
        fclose(f);
    }
    /* Appended: a forked child may finish before its parent (the wrapper
     * empties the file before the run). */
    if (o->json_path && (f = fopen(o->json_path, "a"))) {
        json_out(f, &t, nd, checked, writes, o->arch, o->ctr, pid);
        fclose(f);
    }
    if (o->status_path && (f = fopen(o->status_path, "a"))) {
        size_t nh = 0;   /* distinct hazards: notes do not set the exit status */
        for (size_t i = 0; i < nreports; i++) {
            nh += order[i]->pid == pid && !order[i]->suppressed && !report_is_note(order[i]->kind);
        }
        fprintf(f, "%d %zu %llu\n", pid, nh, (unsigned long long)t.hazards);
        fclose(f);
    }
}
