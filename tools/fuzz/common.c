/* tools/fuzz/common.c - tracing, failure reports, random numbers and the
 * checks both engines share. */
#define _GNU_SOURCE
#include "fuzz.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

struct fz_shared *fz_sh;
__thread int fz_me;
int fz_libfuzzer;
int fz_verbose;
int fz_no_misuse;

static const char *const kind_names[] = {
    "model/harness", "lock discipline", "cancellation", "block lifecycle and ownership",
    "fork", "signal strategy", "kernel facility", "bounds", "object lifetime", "errors",
};

const char *fz_kind_name(int kind)
{
    return kind >= 0 && kind <= K_ERRORS ? kind_names[kind] : "?";
}

uint64_t fz_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Without the supervisor's shared trace (libFuzzer), each thread keeps its
 * own, so that a failure can still say what it was doing. */
static __thread struct fz_thread_trace local_trace;

static struct fz_thread_trace *my_trace(void)
{
    if (!fz_sh)
        return &local_trace;
    if (fz_me < 0 || fz_me >= FZ_MAX_TRACE)
        return NULL;
    return &fz_sh->th[fz_me];
}

static char *ring_line(struct fz_thread_trace *t)
{
    return t->ring[(t->next ? t->next - 1 : 0) % FZ_RING];
}

static void vrecord(int watched, const char *fmt, va_list ap)
{
    struct fz_thread_trace *t = my_trace();
    if (!t && !fz_verbose)
        return;
    char line[FZ_LINE];
    vsnprintf(line, sizeof line, fmt, ap);
    if (fz_verbose)
        fprintf(stderr, "[%d] %s%s", fz_me, line, watched ? " ..." : "\n");
    if (!t)
        return;
    t->tid = (int)syscall(SYS_gettid);
    char *dst = t->ring[t->next % FZ_RING];
    snprintf(dst, FZ_LINE, "%s", line);
    __atomic_store_n(&t->next, t->next + 1, __ATOMIC_RELEASE);
    if (watched)
        __atomic_store_n(&t->call_start_ns, fz_now_ns(), __ATOMIC_RELEASE);
}

void fz_begin(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrecord(1, fmt, ap);
    va_end(ap);
}

void fz_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrecord(0, fmt, ap);
    va_end(ap);
}

void fz_end(const char *fmt, ...)
{
    char res[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res, sizeof res, fmt, ap);
    va_end(ap);
    if (fz_verbose)
        fprintf(stderr, "[%d]   %s\n", fz_me, res);
    struct fz_thread_trace *t = my_trace();
    if (!t)
        return;
    __atomic_store_n(&t->call_start_ns, 0, __ATOMIC_RELEASE);
    char *line = ring_line(t);
    size_t n = strnlen(line, FZ_LINE);
    snprintf(line + n, FZ_LINE - n, " %s", res);
}

void fz_set_note(const char *fmt, ...)
{
    if (!fz_sh)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fz_sh->note, sizeof fz_sh->note, fmt, ap);
    va_end(ap);
}

void fz_fail(int kind, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct fz_thread_trace *t = my_trace();
    char during[FZ_LINE + 8] = "";
    if (t && t->next)
        snprintf(during, sizeof during, "%s", ring_line(t));
    if (fz_libfuzzer || !fz_sh) {
        fprintf(stderr, "cmodx-fuzz: FAIL [kind %d: %s] %s\n  during: %s\n", kind,
                fz_kind_name(kind), msg, during);
        abort();
    }
    /* --ignore: a failure already known ends the episode quietly, so that a
     * search for further distinct failures can go on. */
    for (const char *p = fz_sh->ignore; *p;) {
        size_t n = strcspn(p, "|");
        char pat[256];
        snprintf(pat, sizeof pat, "%.*s", (int)(n < 255 ? n : 255), p);
        if (n && strstr(msg, pat)) {
            __atomic_store_n(&fz_sh->ignored, 1, __ATOMIC_RELEASE);
            _exit(0);
        }
        p += n + (p[n] == '|');
    }
    int expected = 0;
    if (__atomic_compare_exchange_n(&fz_sh->failed, &expected, 1, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        fz_sh->kind = kind;
        snprintf(fz_sh->failure, sizeof fz_sh->failure,
                 "[kind %d: %s] %s\n  failing thread: trace #%d (tid %d), during: %s", kind,
                 fz_kind_name(kind), msg, fz_me, (int)syscall(SYS_gettid), during);
    }
    _exit(1);
}

uint64_t fz_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t fz_next(struct fz_rng *r)
{
    if (r->data) {
        /* libFuzzer: two bytes per decision keeps inputs short; past the
         * end every decision is 0 (the sequence then stops). */
        uint64_t v = 0;
        for (int i = 0; i < 2 && r->pos < r->len; i++)
            v = v << 8 | r->data[r->pos++];
        return v;
    }
    r->s = fz_mix(r->s);
    return r->s >> 11;
}

void fz_expect_rc(int kind, const char *call, int rc, const int *allowed, int n)
{
    for (int i = 0; i < n; i++)
        if (rc == allowed[i]) {
            if (rc != 0 && !cmodx_last_error()[0])
                fz_fail(K_ERRORS, "%s returned %d (%s) with an empty cmodx_last_error()", call,
                        rc, strerror(rc));
            return;
        }
    char want[160] = "";
    size_t len = 0;
    for (int i = 0; i < n && len < sizeof want - 24; i++)
        len += (size_t)snprintf(want + len, sizeof want - len, "%s%s", i ? " or " : "",
                                allowed[i] ? strerrorname_np(allowed[i]) : "0");
    if (rc == 0)
        fz_fail(kind, "%s returned 0; expected %s", call, want);
    const char *name = strerrorname_np(rc);
    fz_fail(kind, "%s returned %d (%s); expected %s; cmodx_last_error: \"%s\"", call, rc,
            name ? name : "?", want, cmodx_last_error());
}

/* Valgrind maps a page of its own writable and executable into the
 * program (anonymous, seen in /proc/self/maps); its preload library is
 * how the program can tell it runs there. */
static int under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload") != NULL;
}

void fz_check_no_wx(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return; /* no /proc: nothing to check against */
    int vg = under_valgrind();
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char perms[8] = "";
        /* Under valgrind, a W+X mapping without a file is valgrind's; the
         * library's code is always a named (memfd or file) mapping. */
        if (vg) {
            int name = 0;
            sscanf(line, "%*s %*s %*s %*s %*s %n", &name);
            if (!strchr(line + name, '/') && !strstr(line + name, "memfd"))
                continue;
        }
        if (sscanf(line, "%*s %7s", perms) == 1 && perms[1] == 'w' && perms[2] == 'x') {
            fclose(f);
            line[strcspn(line, "\n")] = 0;
            fz_fail(K_MODEL, "a mapping is writable and executable at once: %s", line);
        }
    }
    fclose(f);
}

#define FZ_MAX_BLOCK 2048

int fz_write_code(const cmodx_block *b, size_t entry, uint32_t ident)
{
    _Alignas(64) unsigned char buf[FZ_MAX_BLOCK];
    size_t size = b->size < FZ_MAX_BLOCK ? b->size : FZ_MAX_BLOCK;
    cmodx_emit_trap_fill((cmodx_wptr){buf}, size);
    if (!cmodx_emit_return_u32((cmodx_wptr){buf + entry}, size - entry, ident))
        fz_fail(K_MODEL, "block of %zu bytes has no room for code at %zu", size, entry);
    return cmodx_block_write(b, 0, buf, size);
}

int fz_code_intact(const cmodx_block *b, size_t entry, uint32_t ident)
{
    _Alignas(64) unsigned char buf[FZ_MAX_BLOCK];
    size_t size = b->size < FZ_MAX_BLOCK ? b->size : FZ_MAX_BLOCK;
    cmodx_emit_trap_fill((cmodx_wptr){buf}, size);
    cmodx_emit_return_u32((cmodx_wptr){buf + entry}, size - entry, ident);
    return memcmp(buf, b->write.ptr, size) == 0;
}

uint32_t fz_call(const void *p)
{
    uint32_t (*fn)(void);
    memcpy(&fn, &p, sizeof fn);
    return fn();
}

/* A trap or illegal instruction: the thread ran freed (trap-filled) or
 * stale code.  Record who and in which call, then die of the signal so the
 * supervisor reports it with the seed. */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    struct fz_thread_trace *t = my_trace();
    if (fz_sh) {
        int expected = 0;
        if (__atomic_compare_exchange_n(&fz_sh->failed, &expected, 1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            int child = fz_me >= 9 && fz_me <= 16; /* a storm fork child */
            fz_sh->kind = child ? K_FORK : K_BLOCK;
            snprintf(fz_sh->failure, sizeof fz_sh->failure,
                     child ? "[kind 4: fork] the fork child (trace #%d) got signal %d (%s, fault "
                             "address %p) calling through a slot: its code heap was not the "
                             "parent's at the instant of fork (a block the slot targeted then "
                             "was trap-filled later by the parent)\n  during: %s"
                           : "[kind 3: block lifecycle and ownership] thread trace #%d got signal "
                             "%d (%s, fault address %p): it executed trap-filled (freed) or "
                             "foreign code reached through a slot\n  during: %s",
                     fz_me, sig, strsignal(sig), si->si_addr, t && t->next ? ring_line(t) : "");
        }
    }
    if (fz_libfuzzer)
        abort();
    signal(sig, SIG_DFL);
    raise(sig);
}

void fz_install_fault_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigaction(SIGTRAP, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
}

int fz_strategy_probe(enum cmodx_strategy s)
{
    struct cmodx_domain_config c = {.strategy = s, .signal_number = fz_sync_signal()};
    cmodx_domain *d;
    int err = cmodx_domain_create(&c, &d);
    if (!err)
        cmodx_domain_destroy(d);
    return err;
}

int fz_sync_signal(void)
{
    return SIGRTMIN + 6;
}

/* Under AddressSanitizer: an absurd size must make the library's own
 * allocation fail (ENOMEM, which the model accepts), not abort the process
 * inside the sanitizer's allocator.  Unused without the sanitizer. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
