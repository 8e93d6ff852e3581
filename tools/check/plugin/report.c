/*
 * cmodx-check — hazard reports: identical ones are counted, not repeated;
 * written at exit as text and optionally JSON.
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
};

static const char *missing_text(enum kind k, bool idc)
{
    switch (k) {
    case K_NOT_CLEANED:
        return "DC CVAU (clean to the Point of Unification) of the line after the store";
    case K_CLEAN_NOT_COMPLETED:
        return idc ? "a DSB by the writer between the store and the IC IVAU (CTR_EL0.IDC=1)"
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
        return "fence.i on the executing hart, or riscv_flush_icache(2) with flags 0, after the store";
    case K_LOCAL_FLUSH_ONLY:
        return "an instruction-cache flush reaching this hart: the flush after the store was "
               "local to another hart (fence.i or riscv_flush_icache LOCAL)";
    case K_STALE_TRANSLATION:
        return "nothing on hardware, perhaps; but QEMU executed a stale translation whose "
               "bytes differ from memory (code rewritten through another mapping): "
               "results under QEMU are not those of the hardware";
    case K_STALE_REPLACEMENT:
        return "nothing if the old instruction may run forever: this store replaced one of "
               "B, BL, NOP, BRK, SVC, HVC, SMC, ISB by another (ARM ARM B2.2.5: the old or the "
               "new one runs, never a mix), but nothing orders the new one before this fetch, "
               "so it may never be seen (herd7: MP.RF+dmb.st+ctrlisb); the steps above make it "
               "visible";
    default:
        return "?";
    }
}

/* A note is printed but counts as no hazard (exit status, totals). */
bool report_is_note(enum kind k)
{
    return k == K_STALE_REPLACEMENT && cfg.repl == REPL_NOTE;
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
    struct report *next;
};

#define RBUCKETS 4096
#define MAX_DISTINCT 100000
static struct report *rbuckets[RBUCKETS];
static struct report **order;
static size_t nreports, capreports;

void report_add(enum kind k, const struct vcpu *v, uint64_t pc, uint32_t insn,
                uint32_t mem, uint16_t writer, uint64_t store_pc)
{
    int pid = getpid();
    uint64_t h = (pc * 31 + store_pc) * 31 + (uint64_t)k * 7 + v->label * 131u + writer;
    h %= RBUCKETS;
    for (struct report *r = rbuckets[h]; r; r = r->next) {
        if (r->kind == k && r->exec_pc == pc && r->store_pc == store_pc &&
            r->exec_label == v->label && r->writer_label == writer && r->pid == pid) {
            r->count++;
            return;
        }
    }
    if (nreports >= MAX_DISTINCT) {
        return;
    }
    struct report *r = calloc(1, sizeof(*r));
    *r = (struct report){ k, pc, store_pc, v->label, writer, insn, mem, 1, pid, rbuckets[h] };
    rbuckets[h] = r;
    if (nreports == capreports) {
        capreports = capreports ? 2 * capreports : 64;
        order = realloc(order, capreports * sizeof(*order));
    }
    order[nreports++] = r;
}

/*
 * "file+0xoffset" for a guest pc, from the host's /proc/self/maps (guest
 * memory is host memory at guest_base): what addr2line wants, where the
 * load address of a PIE or a library would mean nothing.
 */
static void where(char *buf, size_t n, uint64_t pc)
{
    buf[0] = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f || !guest_base_known) {
        if (f) {
            fclose(f);
        }
        return;
    }
    uint64_t host = pc + (uint64_t)guest_base;
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        unsigned long long lo, hi, off;
        int path = 0;
        if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n", &lo, &hi, &off, &path) < 3 ||
            host < lo || host >= hi || !path || line[path] != '/') {
            continue;
        }
        line[strcspn(line, "\n")] = 0;
        const char *base = strrchr(line + path, '/') + 1;
        snprintf(buf, n, " (%s+0x%llx)", base, (unsigned long long)(host - lo + off));
        break;
    }
    fclose(f);
}

static void thread_name(char *buf, size_t n, uint16_t label)
{
    if (label == 0) {
        snprintf(buf, n, "an unknown thread");
    } else {
        snprintf(buf, n, "thread %u (tid %d)", label, label_tid[label]);
    }
}

static void print_one(FILE *f, const struct report *r, bool idc)
{
    char ex[64], wr[64], wx[300], ws[300];
    where(wx, sizeof(wx), r->exec_pc);
    where(ws, sizeof(ws), r->store_pc);
    thread_name(ex, sizeof(ex), r->exec_label);
    thread_name(wr, sizeof(wr), r->writer_label);
    fprintf(f, "cmodx-check: %s %s (x%llu)\n", report_is_note(r->kind) ? "note" : "hazard",
            kind_names[r->kind],
            (unsigned long long)r->count);
    fprintf(f, "    executed  pc 0x%llx%s by %s, instruction 0x%08x\n",
            (unsigned long long)r->exec_pc, wx, ex, r->insn);
    if (r->kind == K_STALE_TRANSLATION) {
        fprintf(f, "    memory    holds 0x%08x at that address\n", r->mem);
    } else if (r->store_pc) {
        fprintf(f, "    written   by %s, store at pc 0x%llx%s\n", wr,
                (unsigned long long)r->store_pc, ws);
    } else if (r->writer_label) {
        fprintf(f, "    written   by %s through a system call (write/pwrite into a memfd)\n", wr);
    } else {
        fprintf(f, "    written   before the page was first maintained or made executable "
                   "(store not seen)\n");
    }
    fprintf(f, "    missing   %s\n", missing_text(r->kind, idc));
}

struct totals {
    uint64_t hazards, distinct[K_COUNT], occurrences[K_COUNT];
};

static struct totals count_all(int pid)
{
    struct totals t = { 0 };
    for (size_t i = 0; i < nreports; i++) {
        if (order[i]->pid == pid) {
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

static void json_out(FILE *f, const struct totals *t, size_t ndistinct, uint64_t checked,
                     uint64_t writes, const char *arch, uint64_t ctr, bool idc, int pid)
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
        if (r->pid != pid) {
            continue;
        }
        fprintf(f, "%s    {\"kind\": \"%s\", \"count\": %llu, \"exec_pc\": \"0x%llx\", "
                   "\"exec_thread\": %u, \"exec_tid\": %d, \"insn\": \"0x%08x\", "
                   "\"store_pc\": \"0x%llx\", \"writer_thread\": %u, \"writer_tid\": %d, "
                   "\"missing\": \"%s\"}",
                sep, kind_names[r->kind], (unsigned long long)r->count,
                (unsigned long long)r->exec_pc, r->exec_label, label_tid[r->exec_label], r->insn,
                (unsigned long long)r->store_pc, r->writer_label,
                r->writer_label ? label_tid[r->writer_label] : 0, missing_text(r->kind, idc));
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
    for (size_t i = 0; i < nreports && (size_t)i < o->max_print; i++) {
        if (order[i]->pid == pid) {
            print_one(out, order[i], o->idc);
        }
    }
    if (nreports > o->max_print) {
        fprintf(out, "cmodx-check: (%zu more distinct reports not printed)\n",
                nreports - o->max_print);
    }
    print_summary(out, &t, nd, checked, writes);
    if (f) {
        fclose(f);
    }
    /* Appended: a forked child may finish before its parent (the wrapper
     * empties the file before the run). */
    if (o->json_path && (f = fopen(o->json_path, "a"))) {
        json_out(f, &t, nd, checked, writes, o->arch, o->ctr, o->idc, pid);
        fclose(f);
    }
    if (o->status_path && (f = fopen(o->status_path, "a"))) {
        size_t nh = 0;   /* distinct hazards: notes do not set the exit status */
        for (size_t i = 0; i < nreports; i++) {
            nh += order[i]->pid == pid && !report_is_note(order[i]->kind);
        }
        fprintf(f, "%d %zu %llu\n", pid, nh, (unsigned long long)t.hazards);
        fclose(f);
    }
}
