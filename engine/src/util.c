/* Small helpers: aligned memory, checked sizes, hashing, errors, version. */
#define _POSIX_C_SOURCE 200112L
#include <stdlib.h>
#if defined(_WIN32)
#include <malloc.h>
#endif

#include "internal.h"

void *ttt_aligned_alloc(size_t size)
{
    if (size == 0)
        size = TTT_ALIGN;
#if defined(_WIN32)
    /* the CRT has no posix_memalign; its aligned blocks need _aligned_free */
    return _aligned_malloc(size, TTT_ALIGN);
#else
    void *p = NULL;
    if (posix_memalign(&p, TTT_ALIGN, size) != 0)
        return NULL;
    return p;
#endif
}

void ttt_aligned_free(void *p)
{
#if defined(_WIN32)
    _aligned_free(p);
#else
    free(p);
#endif
}

int ttt_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > (size_t)-1 / a)
        return TTT_ERR_OVERFLOW;
    *out = a * b;
    return TTT_OK;
}

uint64_t ttt_fnv1a64(uint64_t h, const void *data, size_t len)
{
    const unsigned char *b = data;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= UINT64_C(0x100000001B3);
    }
    return h;
}

const char *ttt_strerror(int err)
{
    switch (err) {
    case TTT_OK: return "success";
    case TTT_ERR_INVALID_ARG: return "invalid argument";
    case TTT_ERR_NOMEM: return "out of memory";
    case TTT_ERR_OVERFLOW: return "size overflow";
    case TTT_ERR_IO: return "input/output error";
    case TTT_ERR_FORMAT: return "state data truncated or corrupt";
    case TTT_ERR_VERSION: return "unsupported state or weight file format version";
    case TTT_ERR_MISMATCH: return "state belongs to a model of another shape or projections";
    case TTT_ERR_BUFFER_SMALL: return "buffer too small";
    case TTT_ERR_UNSUPPORTED: return "not supported by this build (weight files need json-c)";
    case TTT_ERR_WEIGHTS: return "weight file malformed: bad header, tensor, ternary value or scale";
    case TTT_ERR_WEIGHTS_MISMATCH: return "weight file is for another shape, objective, feature norm or residual";
    default: return "unknown error";
    }
}

#define TTT_STR_(x) #x
#define TTT_STR(x) TTT_STR_(x)

unsigned ttt_version(void)
{
    return TTT_VERSION;
}

const char *ttt_version_string(void)
{
    return TTT_STR(TTT_VERSION_MAJOR) "." TTT_STR(TTT_VERSION_MINOR) "." TTT_STR(TTT_VERSION_PATCH);
}
