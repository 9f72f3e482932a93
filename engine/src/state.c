/*
 * The state format: serialise, validate, checksum, atomic file write.
 * Layout (all little-endian), described for users in docs/SPEC.md:
 *   0  "BTTTSTAT"        8  u32 version (1|2) 12 u32 header size (64)
 *   16 u32 hidden_dim    20 u32 state_dim     24 u64 seed
 *   32 u64 projection hash                    40 u64 tokens_seen
 *   48 u64 tokens_skipped                     56 u64 identity (0 in version 1)
 *   64 W: state_dim^2 f32, row-major
 *   NEXT only: the previous key, state_dim f32
 *   end-8: u64 FNV-1a 64 of every byte before it
 * The original objective writes version 1 with identity 0, byte for byte
 * as before; any other identity writes version 2, which a 1.0 library
 * refuses (TTT_ERR_VERSION) instead of misreading.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <io.h>
#include <windows.h>
#endif

#include "internal.h"

#define STATE_MAGIC "BTTTSTAT"
#define STATE_VERSION 1u    /* the original objective */
#define STATE_VERSION_OBJ 2u /* any other: identity flags, maybe a previous key */
#define STATE_HEADER 64u
#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)

/* The file holds W row-major, the model by columns (kernels.h). The
 * transpose goes a band of rows at a time: the band's file lines stay in
 * cache while every column passes. */
#define W_BAND 32u

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int ident_has_prev(uint64_t ident)
{
    return (ident & TTT_IDENT_OBJECTIVE) == TTT_OBJECTIVE_NEXT;
}

/* d <= TTT_MAX_STATE_DIM keeps this far from overflow. */
static size_t state_bytes(size_t d, uint64_t ident)
{
    return STATE_HEADER + d * d * 4 + (ident_has_prev(ident) ? d * 4 : 0) + 8;
}

/* identity flags a state may carry: the objectives and bits defined */
static int ident_valid(uint64_t ident)
{
    const uint64_t obj = ident & TTT_IDENT_OBJECTIVE;
    if (ident & ~(uint64_t)(TTT_IDENT_OBJECTIVE | TTT_IDENT_MAGNITUDE | TTT_IDENT_RESIDUAL))
        return 0;
    if (obj > TTT_OBJECTIVE_NEXT || ((ident & TTT_IDENT_RESIDUAL) && obj != TTT_OBJECTIVE_MULTIVIEW))
        return 0;
    return 1;
}

static int finite_bits(uint32_t b)
{
    return (b & 0x7f800000u) != 0x7f800000u;
}

size_t ttt_state_size(const ttt_model *m)
{
    return m ? state_bytes(m->d, m->ident) : 0;
}

int ttt_state_save(ttt_model *m, void *buf, size_t cap, size_t *written)
{
    if (!m || (!buf && cap))
        return TTT_ERR_INVALID_ARG;
    const size_t need = state_bytes(m->d, m->ident);
    if (written)
        *written = need;
    if (cap < need)
        return TTT_ERR_BUFFER_SMALL;

    ttt_flush_pending(m);
    unsigned char *p = buf;
    memset(p, 0, STATE_HEADER);
    memcpy(p, STATE_MAGIC, 8);
    put32(p + 8, m->ident ? STATE_VERSION_OBJ : STATE_VERSION);
    put32(p + 12, STATE_HEADER);
    put32(p + 16, (uint32_t)m->D);
    put32(p + 20, (uint32_t)m->d);
    put64(p + 24, m->cfg.seed);
    put64(p + 32, m->proj_hash);
    put64(p + 40, m->stats.tokens_seen);
    put64(p + 48, m->stats.tokens_skipped);
    put64(p + 56, m->ident);
    unsigned char *w = p + STATE_HEADER;
    for (size_t i0 = 0; i0 < m->d; i0 += W_BAND) {
        const size_t i1 = i0 + W_BAND < m->d ? i0 + W_BAND : m->d;
        for (size_t j = 0; j < m->d; j++) {
            for (size_t i = i0; i < i1; i++) {
                uint32_t b;
                memcpy(&b, &m->W[j * m->ws + i], 4);
                put32(w + 4 * (i * m->d + j), b);
            }
        }
    }
    w += 4 * m->d * m->d;
    if (ident_has_prev(m->ident)) {
        for (size_t j = 0; j < m->d; j++) {
            uint32_t b;
            memcpy(&b, &m->prev[j], 4);
            put32(w, b);
            w += 4;
        }
    }
    put64(w, ttt_fnv1a64(FNV_OFFSET, p, need - 8));
    return TTT_OK;
}

int ttt_state_load(ttt_model *m, const void *buf, size_t len)
{
    if (!m || !buf)
        return TTT_ERR_INVALID_ARG;
    const unsigned char *p = buf;
    if (len < STATE_HEADER + 8 || memcmp(p, STATE_MAGIC, 8) != 0)
        return TTT_ERR_FORMAT;
    const uint32_t version = get32(p + 8);
    if (version != STATE_VERSION && version != STATE_VERSION_OBJ)
        return TTT_ERR_VERSION;
    /* one encoding per state: version 1 exactly when the identity is 0 */
    const uint32_t d = get32(p + 20);
    const uint64_t ident = get64(p + 56);
    if (!ident_valid(ident) || (version == STATE_VERSION) != (ident == 0))
        return TTT_ERR_FORMAT;
    if (get32(p + 12) != STATE_HEADER || d == 0 || d > TTT_MAX_STATE_DIM || len != state_bytes(d, ident))
        return TTT_ERR_FORMAT;
    if (get64(p + len - 8) != ttt_fnv1a64(FNV_OFFSET, p, len - 8))
        return TTT_ERR_FORMAT;
    if (get32(p + 16) != m->D || d != m->d || get64(p + 24) != m->cfg.seed ||
        get64(p + 32) != m->proj_hash || ident != m->ident)
        return TTT_ERR_MISMATCH;
    const uint64_t seen = get64(p + 40), skipped = get64(p + 48);
    if (skipped > seen)
        return TTT_ERR_FORMAT;
    const unsigned char *w = p + STATE_HEADER;
    for (size_t i = 0; i < (size_t)d * d; i++)
        if (!finite_bits(get32(w + 4 * i)))
            return TTT_ERR_FORMAT; /* NaN never enters the state */
    /* a previous key is unit length or zero: a longer one would break the
     * stability bound of the gradient step, so it is no valid state */
    const unsigned char *pk = w + 4 * (size_t)d * d;
    if (ident_has_prev(ident)) {
        double nk = 0.0;
        for (size_t j = 0; j < d; j++) {
            const uint32_t b = get32(pk + 4 * j);
            float f;
            memcpy(&f, &b, 4);
            if (!finite_bits(b))
                return TTT_ERR_FORMAT;
            nk += (double)f * f;
        }
        if (nk > 1.0 + 1e-3)
            return TTT_ERR_FORMAT;
    }

    /* everything is valid: only now touch the model */
    for (size_t i0 = 0; i0 < d; i0 += W_BAND) {
        const size_t i1 = i0 + W_BAND < d ? i0 + W_BAND : d;
        for (size_t j = 0; j < d; j++) {
            for (size_t i = i0; i < i1; i++) {
                uint32_t b = get32(w + 4 * (i * d + j));
                memcpy(&m->W[j * m->ws + i], &b, 4);
            }
        }
    }
    if (ident_has_prev(ident)) {
        for (size_t j = 0; j < d; j++) {
            uint32_t b = get32(pk + 4 * j);
            memcpy(&m->prev[j], &b, 4);
        }
    }
    m->pending = 0;
    m->chunk_n = 0;
    m->wnorm = INFINITY; /* not known until forward needs it */
    m->stats.tokens_seen = seen;
    m->stats.tokens_skipped = skipped;
    return TTT_OK;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

#if defined(_WIN32)
/* Paths are UTF-8 on every platform (the bindings pass UTF-8); Windows
 * takes any name as UTF-16 only, the char functions being limited to the
 * ANSI code page. NULL on invalid UTF-8 (errno EILSEQ) or no memory (errno
 * ENOMEM). extra: room for a suffix, in characters. */
static wchar_t *utf8_to_wide(const char *s, size_t extra)
{
    const int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    if (n <= 0) {
        errno = EILSEQ;
        return NULL;
    }
    wchar_t *w = malloc(((size_t)n + extra) * sizeof *w);
    if (!w)
        errno = ENOMEM;
    else
        MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n);
    return w;
}

static int open_read(const char *path)
{
    wchar_t *w = utf8_to_wide(path, 0);
    const int fd = w ? _wopen(w, O_RDONLY | O_BINARY) : -1;
    free(w);
    return fd;
}

/* Write buf to path.tmp.<hex pid and counter> beside path, flush it, then
 * move it over path: rename() refuses an existing target on Windows;
 * MoveFileEx replaces it in one step, and write-through returns once the
 * move itself is on disk (what the fsync of the directory gives on POSIX).
 * A handle on path without FILE_SHARE_DELETE makes the move fail; path is
 * then untouched. */
static int write_replace(const char *path, const unsigned char *buf, size_t n)
{
    static volatile LONG counter;
    wchar_t *wpath = utf8_to_wide(path, 0), *tmp = wpath ? utf8_to_wide(path, 32) : NULL;
    if (!tmp) {
        const int err = errno == ENOMEM ? TTT_ERR_NOMEM : TTT_ERR_IO;
        free(wpath);
        return err;
    }
    const size_t len = wcslen(tmp);
    int fd = -1;
    /* exclusive create: another thread or process saving the same path
     * moves on to another name */
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        const unsigned long long id = ((unsigned long long)GetCurrentProcessId() << 32) |
                                      (unsigned long)InterlockedIncrement(&counter);
        wchar_t *q = tmp + len;
        memcpy(q, L".tmp.", 5 * sizeof *q);
        q += 5;
        for (int shift = 60; shift >= 0; shift -= 4)
            *q++ = L"0123456789abcdef"[(id >> shift) & 15];
        *q = 0;
        fd = _wopen(tmp, O_WRONLY | O_CREAT | O_EXCL | O_BINARY, _S_IREAD | _S_IWRITE);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    int err = TTT_ERR_IO;
    if (fd >= 0) {
        const int bad = write_all(fd, buf, n) || _commit(fd);
        const int bad_close = close(fd);
        if (!bad && !bad_close && MoveFileExW(tmp, wpath, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
            err = TTT_OK;
        else
            _wunlink(tmp);
    }
    free(wpath);
    free(tmp);
    return err;
}
#else
static int open_read(const char *path)
{
    return open(path, O_RDONLY);
}

/* fsync the directory holding path, so the rename itself is durable. */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Write buf to a temporary file beside path, fsync it, rename it over path. */
static int write_replace(const char *path, const unsigned char *buf, size_t n)
{
    char *tmp = malloc(strlen(path) + 16);
    if (!tmp)
        return TTT_ERR_NOMEM;
    sprintf(tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        return TTT_ERR_IO;
    }
    /* mkstemp makes 0600; a state file is as readable as any file we make */
    const mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    const int bad = write_all(fd, buf, n) || fsync(fd);
    const int bad_close = close(fd);
    if (bad || bad_close || rename(tmp, path) != 0) {
        const int saved = errno;
        unlink(tmp);
        errno = saved;
        free(tmp);
        return TTT_ERR_IO;
    }
    free(tmp);
    sync_dir(path);
    return TTT_OK;
}
#endif

int ttt_state_save_file(ttt_model *m, const char *path)
{
    if (!m || !path || !*path)
        return TTT_ERR_INVALID_ARG;
    const size_t n = ttt_state_size(m);
    unsigned char *buf = malloc(n);
    int err = buf ? ttt_state_save(m, buf, n, NULL) : TTT_ERR_NOMEM;
    if (!err)
        err = write_replace(path, buf, n);
    free(buf);
    return err;
}

int ttt_state_load_file(ttt_model *m, const char *path)
{
    if (!m || !path)
        return TTT_ERR_INVALID_ARG;
    int fd = open_read(path);
    if (fd < 0)
        return TTT_ERR_IO;
    struct stat st;
    int err = TTT_ERR_IO;
    unsigned char *buf = NULL;
    if (fstat(fd, &st) != 0)
        goto out;
    err = TTT_ERR_FORMAT;
    if (st.st_size <= 0 || (uint64_t)st.st_size > state_bytes(TTT_MAX_STATE_DIM, TTT_OBJECTIVE_NEXT))
        goto out;
    err = TTT_ERR_NOMEM;
    buf = malloc((size_t)st.st_size);
    if (!buf)
        goto out;
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    err = got == (size_t)st.st_size ? ttt_state_load(m, buf, got) : TTT_ERR_IO;
out:
    free(buf);
    close(fd);
    return err;
}
