/*
 * The state format: serialise, validate, checksum, atomic file write.
 * Layout (all little-endian), described for users in docs/SPEC.md:
 *   0  "BTTTSTAT"        8  u32 version (1)   12 u32 header size (64)
 *   16 u32 hidden_dim    20 u32 state_dim     24 u64 seed
 *   32 u64 projection hash                    40 u64 tokens_seen
 *   48 u64 tokens_skipped                     56 u64 reserved (0)
 *   64 W: state_dim^2 f32, row-major
 *   end-8: u64 FNV-1a 64 of every byte before it
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

#include "internal.h"

#define STATE_MAGIC "BTTTSTAT"
#define STATE_VERSION 1u
#define STATE_HEADER 64u
#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)

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

/* d <= TTT_MAX_STATE_DIM keeps this far from overflow. */
static size_t state_bytes(size_t d)
{
    return STATE_HEADER + d * d * 4 + 8;
}

size_t ttt_state_size(const ttt_model *m)
{
    return m ? state_bytes(m->d) : 0;
}

int ttt_state_save(ttt_model *m, void *buf, size_t cap, size_t *written)
{
    if (!m || (!buf && cap))
        return TTT_ERR_INVALID_ARG;
    const size_t need = state_bytes(m->d);
    if (written)
        *written = need;
    if (cap < need)
        return TTT_ERR_BUFFER_SMALL;

    ttt_flush_pending(m);
    unsigned char *p = buf;
    memset(p, 0, STATE_HEADER);
    memcpy(p, STATE_MAGIC, 8);
    put32(p + 8, STATE_VERSION);
    put32(p + 12, STATE_HEADER);
    put32(p + 16, (uint32_t)m->D);
    put32(p + 20, (uint32_t)m->d);
    put64(p + 24, m->cfg.seed);
    put64(p + 32, m->proj_hash);
    put64(p + 40, m->stats.tokens_seen);
    put64(p + 48, m->stats.tokens_skipped);
    unsigned char *w = p + STATE_HEADER;
    for (size_t i = 0; i < m->d; i++) {
        for (size_t j = 0; j < m->d; j++) {
            uint32_t b;
            memcpy(&b, &m->W[i * m->ws + j], 4);
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
    if (get32(p + 8) != STATE_VERSION)
        return TTT_ERR_VERSION;
    const uint32_t d = get32(p + 20);
    if (get32(p + 12) != STATE_HEADER || d == 0 || d > TTT_MAX_STATE_DIM || len != state_bytes(d))
        return TTT_ERR_FORMAT;
    if (get64(p + len - 8) != ttt_fnv1a64(FNV_OFFSET, p, len - 8))
        return TTT_ERR_FORMAT;
    if (get32(p + 16) != m->D || d != m->d || get64(p + 24) != m->cfg.seed || get64(p + 32) != m->proj_hash)
        return TTT_ERR_MISMATCH;
    const uint64_t seen = get64(p + 40), skipped = get64(p + 48);
    if (skipped > seen)
        return TTT_ERR_FORMAT;
    const unsigned char *w = p + STATE_HEADER;
    for (size_t i = 0; i < (size_t)d * d; i++) {
        uint32_t b = get32(w + 4 * i);
        if ((b & 0x7f800000u) == 0x7f800000u)
            return TTT_ERR_FORMAT; /* NaN never enters the state */
    }

    /* everything is valid: only now touch the model */
    for (size_t i = 0; i < d; i++) {
        for (size_t j = 0; j < d; j++) {
            uint32_t b = get32(w + 4 * (i * d + j));
            memcpy(&m->W[i * m->ws + j], &b, 4);
        }
    }
    m->pending = 0;
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

int ttt_state_save_file(ttt_model *m, const char *path)
{
    if (!m || !path || !*path)
        return TTT_ERR_INVALID_ARG;
    const size_t n = ttt_state_size(m);
    unsigned char *buf = malloc(n);
    char *tmp = malloc(strlen(path) + 16);
    int err = TTT_ERR_NOMEM;
    if (!buf || !tmp)
        goto out;
    err = ttt_state_save(m, buf, n, NULL);
    if (err)
        goto out;
    sprintf(tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        err = TTT_ERR_IO;
        goto out;
    }
    /* mkstemp makes 0600; a state file is as readable as any file we make */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    const int bad = write_all(fd, buf, n) || fsync(fd);
    const int bad_close = close(fd);
    if (bad || bad_close || rename(tmp, path) != 0) {
        const int saved = errno;
        unlink(tmp);
        errno = saved;
        err = TTT_ERR_IO;
        goto out;
    }
    sync_dir(path);
    err = TTT_OK;
out:
    free(buf);
    free(tmp);
    return err;
}

int ttt_state_load_file(ttt_model *m, const char *path)
{
    if (!m || !path)
        return TTT_ERR_INVALID_ARG;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return TTT_ERR_IO;
    struct stat st;
    int err = TTT_ERR_IO;
    unsigned char *buf = NULL;
    if (fstat(fd, &st) != 0)
        goto out;
    err = TTT_ERR_FORMAT;
    if (st.st_size <= 0 || (uint64_t)st.st_size > state_bytes(TTT_MAX_STATE_DIM))
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
