/*
 * cmodx-check — names for guest addresses.
 *
 * Under qemu-user a guest file mapping is a host mapping of the same file
 * at guest_base + address, so the host's /proc/self/maps names the file
 * and the offset behind any guest pc; the file's ELF program headers turn
 * that offset into the ELF virtual address, and its symbol tables (.symtab
 * when not stripped, else .dynsym) into "function+offset".  The vDSO is
 * found from the auxiliary vector (AT_SYSINFO_EHDR) and read from guest
 * memory.  Only little-endian ELF32/ELF64, as the three guests use.
 */
#include "symbols.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maps.h"
#include "model.h"
#include "syscall.h"

struct sym {
    uint64_t value, size;
    const char *name;
};

struct seg {
    uint64_t off, filesz, vaddr;
};

struct elfimg {
    char *path;
    struct sym *syms;
    size_t nsyms;
    struct seg segs[16];
    unsigned nsegs;
    char *strings;          /* owned copy of the names */
    struct elfimg *next;
};

static struct elfimg *images;

static uint64_t vdso_lo, vdso_hi;   /* published with release when known */
static struct elfimg *vdso_img;
static uint64_t heap_lo, heap_hi, stack_top;

/* ---- ELF parsing from a byte image ---- */

static int cmp_sym(const void *a, const void *b)
{
    const struct sym *x = a, *y = b;
    return (x->value > y->value) - (x->value < y->value);
}

static uint64_t rd(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    memcpy(&v, p, n);   /* little-endian host and guests */
    return v;
}

/*
 * Symbols and loadable segments of the ELF image img[0..len).  Returns
 * NULL if it is not an ELF file this code reads.
 */
static struct elfimg *elf_parse(const uint8_t *img, size_t len)
{
    if (len < 52 || memcmp(img, ELFMAG, SELFMAG) != 0 || img[EI_DATA] != ELFDATA2LSB) {
        return NULL;
    }
    bool is64 = img[EI_CLASS] == ELFCLASS64;
    unsigned w = is64 ? 8 : 4;
    uint64_t phoff = rd(img + (is64 ? 32 : 28), w);
    uint64_t shoff = rd(img + (is64 ? 40 : 32), w);
    unsigned phentsize = (unsigned)rd(img + (is64 ? 54 : 42), 2);
    unsigned phnum = (unsigned)rd(img + (is64 ? 56 : 44), 2);
    unsigned shentsize = (unsigned)rd(img + (is64 ? 58 : 46), 2);
    unsigned shnum = (unsigned)rd(img + (is64 ? 60 : 48), 2);
    struct elfimg *e = calloc(1, sizeof(*e));
    for (unsigned k = 0; k < phnum && phoff + (uint64_t)(k + 1) * phentsize <= len; k++) {
        const uint8_t *ph = img + phoff + (uint64_t)k * phentsize;
        if (rd(ph, 4) != PT_LOAD || e->nsegs == 16) {
            continue;
        }
        struct seg *s = &e->segs[e->nsegs++];
        if (is64) {
            s->off = rd(ph + 8, 8);
            s->vaddr = rd(ph + 16, 8);
            s->filesz = rd(ph + 32, 8);
        } else {
            s->off = rd(ph + 4, 4);
            s->vaddr = rd(ph + 8, 4);
            s->filesz = rd(ph + 16, 4);
        }
    }
    /* Symbol tables: SHT_SYMTAB and SHT_DYNSYM, each with its linked
     * string table. */
    size_t cap = 0, strbytes = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t strpos = 0;
        for (unsigned k = 0; k < shnum && shoff + (uint64_t)(k + 1) * shentsize <= len; k++) {
            const uint8_t *sh = img + shoff + (uint64_t)k * shentsize;
            unsigned type = (unsigned)rd(sh + 4, 4);
            if (type != SHT_SYMTAB && type != SHT_DYNSYM) {
                continue;
            }
            uint64_t off = rd(sh + (is64 ? 24 : 16), w), size = rd(sh + (is64 ? 32 : 20), w);
            unsigned link = (unsigned)rd(sh + (is64 ? 40 : 24), 4);
            uint64_t entsize = rd(sh + (is64 ? 56 : 36), w);
            if (link >= shnum || entsize < (is64 ? 24u : 16u) || off + size > len) {
                continue;
            }
            const uint8_t *lsh = img + shoff + (uint64_t)link * shentsize;
            uint64_t stroff = rd(lsh + (is64 ? 24 : 16), w), strsz = rd(lsh + (is64 ? 32 : 20), w);
            if (stroff + strsz > len) {
                continue;
            }
            for (uint64_t s = 0; s + entsize <= size; s += entsize) {
                const uint8_t *st = img + off + s;
                uint64_t name = rd(st, 4), value, ssize;
                unsigned info;
                uint16_t shndx;
                if (is64) {
                    info = st[4];
                    shndx = (uint16_t)rd(st + 6, 2);
                    value = rd(st + 8, 8);
                    ssize = rd(st + 16, 8);
                } else {
                    value = rd(st + 4, 4);
                    ssize = rd(st + 8, 4);
                    info = st[12];
                    shndx = (uint16_t)rd(st + 14, 2);
                }
                unsigned stype = ELF64_ST_TYPE(info);
                if (shndx == SHN_UNDEF || name == 0 || name >= strsz || value == 0 ||
                    (stype != STT_FUNC && stype != STT_GNU_IFUNC && stype != STT_NOTYPE)) {
                    continue;
                }
                const char *nm = (const char *)img + stroff + name;
                size_t nl = strnlen(nm, strsz - name);
                if (nm[0] == '$' || nl == 0) {
                    continue;   /* ARM mapping symbols ($a, $d, $x) */
                }
                if (pass == 0) {
                    cap++;
                    strbytes += nl + 1;
                } else {
                    memcpy(e->strings + strpos, nm, nl);
                    e->strings[strpos + nl] = 0;
                    /* Thumb functions have bit 0 set in st_value. */
                    e->syms[e->nsyms++] = (struct sym){ value & ~1ull, ssize, e->strings + strpos };
                    strpos += nl + 1;
                }
            }
        }
        if (pass == 0) {
            e->syms = calloc(cap + 1, sizeof(*e->syms));
            e->strings = malloc(strbytes + 1);
        }
    }
    qsort(e->syms, e->nsyms, sizeof(*e->syms), cmp_sym);
    return e;
}

/* The symbol covering vaddr: the nearest one below it, if vaddr is within
 * its size (or it has no size and is the last before vaddr). */
static const struct sym *elf_lookup(const struct elfimg *e, uint64_t vaddr)
{
    size_t lo = 0, hi = e->nsyms;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (e->syms[mid].value <= vaddr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    /* lo - 1 is the last symbol at or below vaddr; prefer a sized one
     * covering it among equal values. */
    for (size_t k = lo; k > 0; k--) {
        const struct sym *s = &e->syms[k - 1];
        if (vaddr < s->value + s->size || (s->size == 0 && vaddr - s->value < 0x10000)) {
            return s;
        }
        if (s->value < e->syms[lo - 1].value) {
            break;
        }
    }
    return NULL;
}

static struct elfimg *elf_file(const char *path)
{
    for (struct elfimg *e = images; e; e = e->next) {
        if (strcmp(e->path, path) == 0) {
            return e;
        }
    }
    struct elfimg *e = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            e = elf_parse(m, (size_t)st.st_size);
            munmap(m, (size_t)st.st_size);
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    if (!e) {
        e = calloc(1, sizeof(*e));   /* remembered as "no symbols" */
    }
    e->path = strdup(path);
    e->next = images;
    images = e;
    return e;
}

static uint64_t file_to_vaddr(const struct elfimg *e, uint64_t off)
{
    for (unsigned k = 0; k < e->nsegs; k++) {
        if (off >= e->segs[k].off && off < e->segs[k].off + e->segs[k].filesz) {
            return e->segs[k].vaddr + (off - e->segs[k].off);
        }
    }
    return off;
}

/* ---- process start ---- */

static void load_vdso(uint64_t base)
{
    uint8_t hdr[64];
    if (!guest_read(base, hdr, sizeof(hdr)) || memcmp(hdr, ELFMAG, SELFMAG) != 0) {
        return;
    }
    bool is64 = hdr[EI_CLASS] == ELFCLASS64;
    uint64_t shoff = rd(hdr + (is64 ? 40 : 32), is64 ? 8 : 4);
    uint64_t size = shoff + rd(hdr + (is64 ? 58 : 46), 2) * rd(hdr + (is64 ? 60 : 48), 2);
    if (size < sizeof(hdr) || size > (1u << 20)) {
        return;
    }
    uint8_t *img = malloc(size);
    if (img && guest_read(base, img, size)) {
        struct elfimg *e = elf_parse(img, size);
        if (e) {
            /* The vDSO is linked at its first segment's address. */
            uint64_t bias = base - (e->nsegs ? e->segs[0].vaddr : 0);
            for (size_t k = 0; k < e->nsyms; k++) {
                e->syms[k].value += bias;
            }
            e->path = strdup("[vdso]");
            vdso_img = e;
            __atomic_store_n(&vdso_hi, base + size, __ATOMIC_RELAXED);
            __atomic_store_n(&vdso_lo, base, __ATOMIC_RELEASE);
        }
    }
    free(img);
}

void syms_auxv(uint64_t type, uint64_t val)
{
    if (type == AT_SYSINFO_EHDR && val) {
        load_vdso(val);
    }
}

void syms_stack_top(uint64_t sp)
{
    stack_top = sp;
}

void syms_brk(uint64_t brk)
{
    if (!heap_lo) {
        heap_lo = brk;
    }
    if (brk > heap_hi) {
        heap_hi = brk;
    }
}

bool syms_vdso_range(uint64_t *lo, uint64_t *hi)
{
    *lo = __atomic_load_n(&vdso_lo, __ATOMIC_ACQUIRE);
    *hi = __atomic_load_n(&vdso_hi, __ATOMIC_RELAXED);
    return *lo != 0;
}

const char *syms_vdso_entry(uint64_t va)
{
    const struct elfimg *e = vdso_img;
    for (size_t k = 0; e && k < e->nsyms; k++) {
        if (e->syms[k].value == va) {
            return e->syms[k].name;
        }
    }
    return NULL;
}

/* ---- describing a pc ---- */

/* The host mapping of a guest address: file path and file offset (an
 * anonymous mapping gives an empty path). */
static bool host_mapping(uint64_t va, char *path, size_t n, uint64_t *off)
{
    if (!guest_base_known) {
        return false;
    }
    /* thread-self: the main thread may have left (pthread_exit), and its
     * /proc entry then lists no mappings. */
    FILE *f = fopen("/proc/thread-self/maps", "r");
    if (!f) {
        return false;
    }
    uint64_t host = va + (uint64_t)guest_base;
    char line[4096];
    bool found = false;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long lo, hi, moff;
        int at = 0;
        if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n", &lo, &hi, &moff, &at) < 3 ||
            host < lo || host >= hi) {
            continue;
        }
        line[strcspn(line, "\n")] = 0;
        snprintf(path, n, "%s", at ? line + at : "");
        *off = host - lo + moff;
        found = true;
        break;
    }
    fclose(f);
    return found;
}

static void describe(uint64_t pc, char *fn, size_t nfn, char *file, size_t nfile,
                     uint64_t *fnoff, uint64_t *addr, bool *has_addr)
{
    fn[0] = 0;
    file[0] = 0;
    *fnoff = 0;
    *has_addr = false;
    uint64_t lo, hi;
    if (syms_vdso_range(&lo, &hi) && pc >= lo && pc < hi) {
        snprintf(file, nfile, "[vdso]");
        const struct sym *s = vdso_img ? elf_lookup(vdso_img, pc) : NULL;
        if (s) {
            snprintf(fn, nfn, "%s", s->name);
            *fnoff = pc - s->value;
        }
        return;
    }
    char path[1024];
    uint64_t off;
    if (host_mapping(pc, path, sizeof(path), &off) && path[0] == '/') {
        const char *base = strrchr(path, '/') + 1;
        if (strncmp(base, "memfd:", 6) == 0) {
            snprintf(file, nfile, "[%s]", base);   /* memfd: no symbols */
            *addr = off;
            *has_addr = true;
            return;
        }
        snprintf(file, nfile, "%s", base);
        struct elfimg *e = elf_file(path);
        uint64_t va = file_to_vaddr(e, off);
        *addr = va;
        *has_addr = true;
        const struct sym *s = elf_lookup(e, va);
        if (s) {
            snprintf(fn, nfn, "%s", s->name);
            *fnoff = va - s->value;
        }
        return;
    }
    if (heap_lo && pc >= heap_lo && pc < heap_hi) {
        snprintf(file, nfile, "[heap]");
        return;
    }
    if (stack_top && pc <= stack_top && stack_top - pc < (8u << 20)) {
        snprintf(file, nfile, "[stack]");
        return;
    }
    struct map *m = map_find(pc);
    if (m) {
        snprintf(file, nfile, "[%s mapping 0x%llx-0x%llx]",
                 m->kind == MK_SHARED ? "shared" : m->kind == MK_ANON ? "anonymous" : "private",
                 (unsigned long long)m->start, (unsigned long long)m->end);
    } else {
        snprintf(file, nfile, "[unknown mapping]");
    }
}

bool syms_host_anonymous(uint64_t va)
{
    char path[1024];
    uint64_t off;
    return host_mapping(va, path, sizeof(path), &off) && path[0] == 0;
}

void syms_describe(uint64_t pc, char *buf, size_t n)
{
    char fn[256], file[300];
    uint64_t fnoff, addr = 0;
    bool has_addr;
    describe(pc, fn, sizeof(fn), file, sizeof(file), &fnoff, &addr, &has_addr);
    char where[340];
    if (has_addr) {
        snprintf(where, sizeof(where), "%s+0x%llx", file, (unsigned long long)addr);
    } else {
        snprintf(where, sizeof(where), "%s", file);
    }
    if (fn[0]) {
        snprintf(buf, n, "%s+0x%llx (%s)", fn, (unsigned long long)fnoff, where);
    } else {
        snprintf(buf, n, "(%s)", where);
    }
}

void syms_names(uint64_t pc, char *fn, size_t nfn, char *file, size_t nfile)
{
    uint64_t fnoff, addr;
    bool has_addr;
    describe(pc, fn, nfn, file, nfile, &fnoff, &addr, &has_addr);
}
