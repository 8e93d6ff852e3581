/*
 * cmodx-check — code written by one process and run by another through
 * shared memory (a memfd or file mapped by both, MAP_SHARED|MAP_ANONYMOUS
 * inherited across fork).
 *
 * The model of each process is its own (model.c); a guest fork is a host
 * fork of qemu, which copies it.  What crosses processes lives in one
 * MAP_SHARED segment that the first process creates before any fork, so
 * that every descendant inherits it: per shared backing page (keyed as
 * model.c keys backing pages, with shared anonymous mappings named by an
 * id from the segment, the same in parent and child), per 4-byte word,
 * the newest store (process, thread label, pc, time) and the times of
 * the maintenance that covers it (clean, its completion, invalidate, its
 * completion), made by any process.  Times come from one counter in the
 * segment: across processes the model is time-ordered, as the ARMv7 and
 * RISC-V models are within a process (a step counts from the moment qemu
 * ran it).  docs/CHECKER.md gives the rules and what they miss.
 *
 * A fetch of a word whose newest store another process made is checked
 * here (xproc_check_insn): the steps after that store, then a context
 * synchronisation of the fetching thread after they completed.  A word
 * whose newest store is this process's is left to its own model.
 *
 * Locking: one process-shared, robust mutex for the segment (a process
 * that dies holding it leaves it to the next owner, who marks it
 * consistent).  It is taken only with model_lock held and nothing else
 * is taken under it, so at fork (which plugin.c makes with model_lock
 * held) no thread of the forking process holds it; a thread of another
 * process may, and releases it in that process.  Page lookups are
 * lock-free: a page's key is written before its hash slot publishes it.
 */
#include "xproc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "maps.h"
#include "model.h"
#include "report.h"

/* Per word: the newest store, and maintenance times (0: none). */
struct xword {
    uint64_t t_store;    /* when stored (0: never, since the first fork) */
    uint64_t store_pc;   /* 0: by a system call */
    uint64_t t_dc;       /* the last clean after the store (IDC=1: the store) */
    uint64_t t_dcd;      /* its completion (a DSB of the cleaning thread) */
    uint64_t t_ic;       /* the last invalidate after the completed clean */
    uint64_t t_icd;      /* its completion */
    int32_t pid;         /* the storing process */
    int32_t dc_tid;      /* the host thread that cleaned (its DSB completes) */
    int32_t ic_tid;      /* the host thread that invalidated */
    uint16_t label;      /* the storing thread, as its process labels it */
    uint8_t ic_early;    /* an invalidate came before the clean completed */
    uint8_t pad;
    /* A second clean / invalidate, made by another thread while the first
     * had not completed: either thread's DSB completes its own, and the
     * first to complete is kept (a second thread's step must not make the
     * first thread's DSB complete nothing). */
    uint64_t t_dc2, t_ic2;
    int32_t dc_tid2, ic_tid2;
};

#define XP_PAGES 2048u   /* shared pages recorded (the segment is sparse) */
#define XP_HASH 4096u    /* open addressing, a power of two */

struct xpage {
    uint64_t k[3];
    int32_t storer;      /* 0: no store yet; pid of the only storing process; -1: several */
    uint32_t pad;
    struct xword w[WORDS_PER_PAGE];
};

struct xseg {
    pthread_mutex_t mu;
    uint64_t clock;      /* the time stamps */
    uint64_t gen;        /* bumped by every change */
    uint64_t anon_ids;   /* shared anonymous mappings named so far */
    uint32_t forked;     /* the run has had more than one process */
    uint32_t npages;
    uint32_t hash[XP_HASH];   /* page index + 1 */
    struct xpage pages[XP_PAGES];
};

static struct xseg *seg;
static int my_pid;
static uint64_t gen_seen;
static uint64_t my_global_sync;              /* membarrier / global flush in this process */
static uint64_t transient_time[MAX_VCPUS];   /* RISC-V: last fence.i Linux may not keep */
static uint64_t csync_time[MAX_VCPUS];       /* each thread's last context synchronisation */
#define NPEND 32
static struct {                              /* pages a thread maintained since its DSB */
    uint16_t page[NPEND];
    uint8_t n, all;
} pend[MAX_VCPUS];
static bool warned_full;

static unsigned vidx(const struct vcpu *v)
{
    return (unsigned)(v - vcpus);   /* its record (vcpu_slot) */
}

static void after_fork_child(void)
{
    my_pid = getpid();
    if (seg) {
        __atomic_store_n(&seg->forked, 1, __ATOMIC_RELEASE);
    }
}

static void after_fork_parent(void)
{
    if (seg) {
        __atomic_store_n(&seg->forked, 1, __ATOMIC_RELEASE);
    }
}

void xproc_init(void)
{
    if (seg) {
        return;
    }
    void *p = mmap(NULL, sizeof(struct xseg), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "cmodx-check: warning: no segment for state shared between processes "
                "(%s): code written by one process and run by another is not checked\n",
                strerror(errno));
        return;
    }
    struct xseg *s = p;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&s->mu, &a);
    pthread_mutexattr_destroy(&a);
    s->clock = 1;
    seg = s;
    my_pid = getpid();
    pthread_atfork(NULL, after_fork_parent, after_fork_child);
}

static bool active(void)
{
    return seg && __atomic_load_n(&seg->forked, __ATOMIC_ACQUIRE);
}

static void seg_lock(void)
{
    if (pthread_mutex_lock(&seg->mu) == EOWNERDEAD) {
        /* A process died inside an update: at worst one word's record
         * is half written. */
        pthread_mutex_consistent(&seg->mu);
    }
}

static void seg_unlock(void)
{
    pthread_mutex_unlock(&seg->mu);
}

static uint64_t now(void)
{
    return __atomic_add_fetch(&seg->clock, 1, __ATOMIC_SEQ_CST);
}

static void changed(void)
{
    __atomic_add_fetch(&seg->gen, 1, __ATOMIC_RELEASE);
}

uint64_t xproc_shared_anon_id(uint64_t local_id)
{
    if (!seg) {
        return local_id;
    }
    /* Bit 62: never one of maps.c's private ids. */
    return 1ull << 62 | __atomic_add_fetch(&seg->anon_ids, 1, __ATOMIC_RELAXED);
}

/* Backing that other processes may map: a file or memfd, or shared
 * anonymous memory named by the segment. */
static bool shared_key(const uint64_t k[3])
{
    return k[0] != 0 || (k[1] >> 62) == 1;
}

static uint32_t key_hash(const uint64_t k[3])
{
    uint64_t h = (k[0] * 0x9e3779b97f4a7c15ull) ^ (k[1] * 0xc2b2ae3d27d4eb4full) ^ k[2];
    return (uint32_t)((h ^ (h >> 31)) & (XP_HASH - 1));
}

/* The page's record, created if asked (under the segment lock). */
static struct xpage *page_find(const uint64_t k[3], bool create)
{
    if (!shared_key(k)) {
        return NULL;
    }
    uint32_t h = key_hash(k);
    for (unsigned probe = 0; probe < XP_HASH; probe++, h = (h + 1) & (XP_HASH - 1)) {
        uint32_t i = __atomic_load_n(&seg->hash[h], __ATOMIC_ACQUIRE);
        if (!i) {
            break;
        }
        struct xpage *p = &seg->pages[i - 1];
        if (p->k[0] == k[0] && p->k[1] == k[1] && p->k[2] == k[2]) {
            return p;
        }
    }
    if (!create) {
        return NULL;
    }
    seg_lock();
    struct xpage *found = NULL;
    h = key_hash(k);
    for (unsigned probe = 0; probe < XP_HASH; probe++, h = (h + 1) & (XP_HASH - 1)) {
        uint32_t i = seg->hash[h];
        if (i) {
            struct xpage *p = &seg->pages[i - 1];
            if (p->k[0] == k[0] && p->k[1] == k[1] && p->k[2] == k[2]) {
                found = p;
                break;
            }
            continue;
        }
        if (seg->npages >= XP_PAGES) {
            break;
        }
        found = &seg->pages[seg->npages];
        memcpy(found->k, k, sizeof(found->k));
        seg->npages++;
        __atomic_store_n(&seg->hash[h], seg->npages, __ATOMIC_RELEASE);
        break;
    }
    seg_unlock();
    if (!found && !warned_full) {
        warned_full = true;
        fprintf(stderr, "cmodx-check: warning: the table of pages shared between processes is "
                "full (%u pages): stores and maintenance on further shared pages are not seen "
                "by other processes, whose fetches of them may miss hazards\n", XP_PAGES);
    }
    return found;
}

static uint16_t page_index(const struct xpage *p)
{
    return (uint16_t)(p - seg->pages);
}

static void note_pending(const struct vcpu *v, const struct xpage *p)
{
    unsigned i = vidx(v);
    uint16_t pi = page_index(p);
    for (unsigned k = 0; k < pend[i].n; k++) {
        if (pend[i].page[k] == pi) {
            return;
        }
    }
    if (pend[i].n < NPEND) {
        pend[i].page[pend[i].n++] = pi;
    } else {
        pend[i].all = 1;   /* the DSB looks at every page */
    }
}

void xproc_store(const struct vcpu *v, struct bpage *bp, unsigned wi, uint64_t pc)
{
    if (!active()) {
        return;
    }
    uint64_t k[3] = { bp->key_a, bp->key_b, bp->key_c };
    struct xpage *p = page_find(k, true);
    if (!p) {
        return;
    }
    seg_lock();
    struct xword *w = &p->w[wi];
    w->t_store = now();
    w->store_pc = pc;
    w->pid = my_pid;
    w->label = v ? v->label : 0;
    w->ic_early = 0;
    w->t_dc2 = w->t_ic2 = 0;
    if (cfg.idc && cfg.arch == ARCH_AARCH64 && v) {
        /* IDC=1: no clean needed; the writer's DSB completes the store. */
        w->t_dc = w->t_store;
        w->dc_tid = v->tid;
        w->t_dcd = 0;
        note_pending(v, p);
    }
    int32_t s = p->storer;
    if (s != my_pid && s != -1) {
        __atomic_store_n(&p->storer, s == 0 ? my_pid : -1, __ATOMIC_RELEASE);
    }
    changed();
    seg_unlock();
}

/* Is the word's newest store cleaned (the clean made after it)? */
static bool cleaned(const struct xword *w)
{
    return w->t_dc && w->t_dc >= w->t_store;
}

static bool clean_done(const struct xword *w)
{
    return cleaned(w) && w->t_dcd > w->t_dc;
}

/*
 * Does the clean count for a later step by thread tid (an invalidate, or
 * with DIC=1 the fetch)?  Its own clean once its DSB completed it; another
 * thread's once made (model.c: a clean ordered before the step counts,
 * whoever made it; across processes what orders it is taken from time).
 */
static bool clean_counts(const struct xword *w, int tid)
{
    return clean_done(w) || (cleaned(w) && w->dc_tid != tid) ||
           (w->t_dc2 && w->t_dc2 >= w->t_store && w->dc_tid2 != tid);
}

/* An invalidate that counted (t_ic is set only then) after the newest store. */
static bool invalidated(const struct xword *w)
{
    return w->t_ic && w->t_ic > w->t_store;
}

/* Words [first, first+count) of the page holding va's line. */
static struct xpage *line_page(uint64_t va, unsigned line, unsigned *first, unsigned *count)
{
    uint64_t start = va & ~(uint64_t)(line - 1);
    uint64_t k[3];
    page_key(start, k);
    *first = (unsigned)((start & (PAGE_SIZE - 1)) / 4);
    *count = line / 4;
    if (*first + *count > WORDS_PER_PAGE) {
        *count = WORDS_PER_PAGE - *first;
    }
    return page_find(k, false);
}

void xproc_dc(const struct vcpu *v, uint64_t va)
{
    unsigned first, n;
    struct xpage *p = active() ? line_page(va, cfg.dline, &first, &n) : NULL;
    if (!p) {
        return;
    }
    seg_lock();
    uint64_t t = now();
    for (unsigned i = first; i < first + n; i++) {
        struct xword *w = &p->w[i];
        if (w->t_store && !clean_done(w)) {
            w->ic_early = 0;
            if (cleaned(w) && w->dc_tid != v->tid) {
                w->t_dc2 = t;   /* another thread's clean is still to complete */
                w->dc_tid2 = v->tid;
            } else {
                w->t_dc = t;
                w->dc_tid = v->tid;
                w->t_dcd = 0;
            }
        }
    }
    note_pending(v, p);
    changed();
    seg_unlock();
}

static void ic_words(const struct vcpu *v, struct xpage *p, unsigned first, unsigned n, uint64_t t)
{
    for (unsigned i = first; i < first + n; i++) {
        struct xword *w = &p->w[i];
        if (!w->t_store || (invalidated(w) && w->t_icd > w->t_ic)) {
            continue;   /* nothing stored, or already invalidated and completed */
        }
        if (clean_counts(w, v->tid)) {
            if (invalidated(w) && w->ic_tid != v->tid) {
                w->t_ic2 = t;   /* another thread's invalidate is still to complete */
                w->ic_tid2 = v->tid;
            } else {
                w->t_ic = t;
                w->ic_tid = v->tid;
                w->t_icd = 0;
            }
        } else if (cleaned(w)) {
            w->ic_early = 1;   /* before its own clean (IDC=1: store) completed */
        }
    }
    note_pending(v, p);
}

void xproc_ic(const struct vcpu *v, uint64_t va)
{
    unsigned first, n;
    struct xpage *p = active() && !cfg.dic ? line_page(va, cfg.iline, &first, &n) : NULL;
    if (!p) {
        return;
    }
    seg_lock();
    ic_words(v, p, first, n, now());
    changed();
    seg_unlock();
}

void xproc_ic_all(const struct vcpu *v)
{
    if (!active() || cfg.dic) {
        return;
    }
    seg_lock();
    uint64_t t = now();
    for (uint32_t i = 0; i < seg->npages; i++) {
        ic_words(v, &seg->pages[i], 0, WORDS_PER_PAGE, t);
    }
    changed();
    seg_unlock();
}

static void complete_page(const struct vcpu *v, struct xpage *p, uint64_t t)
{
    for (unsigned i = 0; i < WORDS_PER_PAGE; i++) {
        struct xword *w = &p->w[i];
        if (w->t_dc && w->dc_tid == v->tid && w->t_dcd < w->t_dc) {
            w->t_dcd = t;
        } else if (w->t_dc2 && w->dc_tid2 == v->tid && w->t_dc2 >= w->t_store &&
                   !clean_done(w)) {
            w->t_dc = w->t_dc2;   /* the second clean completed first */
            w->dc_tid = w->dc_tid2;
            w->t_dcd = t;
            w->t_dc2 = 0;
        }
        if (w->t_ic && w->ic_tid == v->tid && w->t_icd < w->t_ic) {
            w->t_icd = t;
        } else if (w->t_ic2 && w->ic_tid2 == v->tid && w->t_ic2 > w->t_store &&
                   !(invalidated(w) && w->t_icd > w->t_ic)) {
            w->t_ic = w->t_ic2;   /* the second invalidate completed first */
            w->ic_tid = w->ic_tid2;
            w->t_icd = t;
            w->t_ic2 = 0;
        }
    }
}

/* A DSB (full) by v completes its cleans and invalidates (and, IDC=1, its
 * stores). */
void xproc_dsb(const struct vcpu *v)
{
    unsigned i = vidx(v);
    if (!active() || (!pend[i].n && !pend[i].all)) {
        return;
    }
    seg_lock();
    uint64_t t = now();
    if (pend[i].all) {
        for (uint32_t k = 0; k < seg->npages; k++) {
            complete_page(v, &seg->pages[k], t);
        }
    } else {
        for (unsigned k = 0; k < pend[i].n; k++) {
            complete_page(v, &seg->pages[pend[i].page[k]], t);
        }
    }
    pend[i].n = 0;
    pend[i].all = 0;
    changed();
    seg_unlock();
}

/* Record the time of a synchronisation (or RISC-V transient fence.i) in
 * *at.  Before the first fork no store of another process exists to
 * compare with: nothing is recorded (one atomic less per ISB and system
 * call return in a single process). */
static void stamp(uint64_t *at)
{
    if (active()) {
        __atomic_store_n(at, now(), __ATOMIC_RELAXED);
    }
}

void xproc_csync(const struct vcpu *v)
{
    stamp(&csync_time[vidx(v)]);
}

void xproc_global_sync(void)
{
    stamp(&my_global_sync);
}

/* ARMv7 cacheflush(2): the whole sequence, complete at once. */
void xproc_cacheflush(const struct vcpu *v, uint64_t start, uint64_t end)
{
    (void)v;
    if (!active() || end <= start || end - start > (1ull << 32)) {
        return;
    }
    seg_lock();
    uint64_t t = now();
    for (uint64_t pg = start & ~(uint64_t)(PAGE_SIZE - 1); pg < end; pg += PAGE_SIZE) {
        uint64_t k[3];
        page_key(pg, k);
        struct xpage *p = page_find(k, false);   /* lock-free */
        for (unsigned i = 0; p && i < WORDS_PER_PAGE; i++) {
            uint64_t a = pg + 4ull * i;
            struct xword *w = &p->w[i];
            if (a + 4 > start && a < end && w->t_store && w->t_store < t) {
                w->t_dc = w->t_dcd = w->t_ic = w->t_icd = t;
            }
        }
    }
    changed();
    seg_unlock();
}

void xproc_transient_fence(const struct vcpu *v)
{
    stamp(&transient_time[vidx(v)]);
}

bool xproc_changed(void)
{
    if (!active()) {
        return false;
    }
    uint64_t g = __atomic_load_n(&seg->gen, __ATOMIC_ACQUIRE);
    if (g == gen_seen) {
        return false;
    }
    gen_seen = g;
    return true;
}

/* The hazard of v's fetch of w (newest store by another process), or
 * K_COUNT. */
static enum kind check_word(const struct vcpu *v, const struct xword *w)
{
    uint64_t sync = __atomic_load_n(&csync_time[vidx(v)], __ATOMIC_RELAXED);
    uint64_t g = __atomic_load_n(&my_global_sync, __ATOMIC_RELAXED);
    sync = g > sync ? g : sync;
    switch (cfg.arch) {
    case ARCH_RISCV64:
        /* fence.i orders the fetching hart's own fetches only: the
         * writer's flushes do not reach another process's harts.  A
         * fence.i of the fetching thread after the store that Linux may
         * not keep (no PR_RISCV_SET_ICACHE_FLUSH_CTX) is its own kind. */
        if (sync > w->t_store) {
            return K_COUNT;
        }
        return __atomic_load_n(&transient_time[vidx(v)], __ATOMIC_RELAXED) > w->t_store
                   ? K_FENCE_I_MIGRATION
                   : K_NO_FENCE_I;
    case ARCH_ARM:
        if (!(w->t_icd && w->t_icd > w->t_store)) {
            return K_NO_CACHEFLUSH;
        }
        return sync > w->t_icd ? K_COUNT : K_NO_CONTEXT_SYNC;
    default:
        break;
    }
    /* The kinds in the order model.c's a64_check gives them. */
    uint64_t done;
    if (!cfg.dic) {
        if (!invalidated(w)) {
            if (!cfg.idc && !cleaned(w)) {
                return K_NOT_CLEANED;
            }
            /* An invalidate before the clean (IDC=1: the store) completed
             * does not count. */
            return w->ic_early ? K_CLEAN_NOT_COMPLETED : K_NOT_INVALIDATED;
        }
        if (w->t_icd <= w->t_ic) {
            return K_INVAL_NOT_COMPLETED;
        }
        done = w->t_icd;
    } else {
        /* DIC=1: the completed clean (IDC=1: the store completed by the
         * writer's DSB) before the fetching thread's synchronisation. */
        if (!cleaned(w)) {
            return K_NOT_CLEANED;
        }
        if (!clean_counts(w, v->tid)) {
            return K_CLEAN_NOT_COMPLETED;
        }
        done = clean_done(w) ? w->t_dcd : w->t_dc;
    }
    return sync > done ? K_COUNT : K_NO_CONTEXT_SYNC;
}

int xproc_check_insn(struct vcpu *v, struct bpage *bp, uint64_t va, unsigned size,
                     uint32_t insn, unsigned *foreign)
{
    *foreign = 0;
    if (!active()) {
        return -1;
    }
    uint64_t k[3] = { bp->key_a, bp->key_b, bp->key_c };
    struct xpage *p = page_find(k, false);
    if (!p) {
        return -1;
    }
    int32_t s = __atomic_load_n(&p->storer, __ATOMIC_ACQUIRE);
    if (s == 0 || s == my_pid) {
        return -1;   /* nothing stored here by another process */
    }
    unsigned first = (unsigned)((va & (PAGE_SIZE - 1)) / 4);
    unsigned last = (unsigned)(((va & (PAGE_SIZE - 1)) + size - 1) / 4);
    if (last >= WORDS_PER_PAGE) {
        last = WORDS_PER_PAGE - 1;
    }
    int r = -1;
    pthread_mutex_lock(&model_lock);
    seg_lock();
    for (unsigned i = first; i <= last; i++) {
        const struct xword *w = &p->w[i];
        if (!w->t_store || w->pid == my_pid) {
            continue;
        }
        *foreign |= 1u << (i - first);
        enum kind kd = check_word(v, w);
        if (kd == K_COUNT) {
            r = r < 0 ? 0 : r;
            continue;
        }
        struct xword copy = *w;
        seg_unlock();
        report_add_foreign(kd, v, va, insn, 0, copy.pid, copy.label, copy.store_pc);
        seg_lock();
        r = 1;
        break;
    }
    seg_unlock();
    pthread_mutex_unlock(&model_lock);
    return r;
}
