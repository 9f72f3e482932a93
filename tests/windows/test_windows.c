/*
 * The Windows DLL as its callers use it, run under wine by the cross build.
 *   test_windows BIT_TTT_DLL
 * - the original's callers load Bit_TTT.dll by name and look up the three
 *   original functions (ctypes, P/Invoke and Unity do exactly this): the
 *   copy named Bit_TTT.dll is loaded with LoadLibrary, its three functions
 *   found with GetProcAddress and checked for the memory effect;
 * - the extended API through the import library, with its error codes;
 * - atomic saves on Windows: over an existing file, and a save that fails
 *   (another process holds the file open without FILE_SHARE_DELETE, which
 *   makes replacing it impossible) leaves the old file as it was; UTF-8
 *   path names.
 * Expectations come from SPEC.md: a fresh model's W is 0, so its first
 * output is its input bit for bit.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bitttt/bitttt.h>

#include "../engine/tap.h"

#define D 64
#define N 40

typedef void *(*create_fn)(size_t, float);
typedef int (*forward_fn)(void *, const float *, size_t, float *);
typedef void (*destroy_fn)(void *);

/* GetProcAddress returns a generic function pointer; going through
 * void (*)(void) is the documented way to convert it without a warning */
#define LOOKUP(type, dll, name) ((type)(void (*)(void))GetProcAddress(dll, name))

/* The sequence a b c a b c: the second a must come out changed. */
static void original_abi(const char *dll_path, const float *in)
{
    HMODULE dll = LoadLibraryA(dll_path);
    tap_ok(dll != NULL, "LoadLibrary(%s)", dll_path);
    if (!dll)
        return;
    create_fn create = LOOKUP(create_fn, dll, "ttt_create");
    forward_fn forward = LOOKUP(forward_fn, dll, "ttt_forward");
    destroy_fn destroy = LOOKUP(destroy_fn, dll, "ttt_destroy");
    tap_ok(create && forward && destroy, "GetProcAddress finds ttt_create, ttt_forward, ttt_destroy");
    if (!create || !forward || !destroy) {
        FreeLibrary(dll);
        return;
    }
    void *m = create(D, 0.01f);
    tap_ok(m != NULL, "ttt_create(64, 0.01) through Bit_TTT.dll");
    float seq[6 * D], out[6 * D];
    for (int t = 0; t < 6; t++)
        memcpy(seq + t * D, in + (t % 3) * D, D * sizeof(float));
    tap_ok(forward(m, seq, 6, out) == TTT_OK, "ttt_forward of 6 tokens");
    double moved = 0;
    for (int i = 0; i < D; i++)
        moved += fabs(out[3 * D + i] - seq[3 * D + i]);
    tap_ok(!memcmp(out, seq, D * sizeof(float)), "first output equals its input bit for bit");
    tap_ok(moved > 1e-3, "memory effect: the repeated token moves by %g", moved);
    tap_ok(forward(m, NULL, 1, out) == TTT_ERR_INVALID_ARG, "ttt_forward(NULL input): TTT_ERR_INVALID_ARG");
    tap_ok(forward(NULL, seq, 1, out) == TTT_ERR_INVALID_ARG, "ttt_forward(NULL model): TTT_ERR_INVALID_ARG");
    tap_ok(create(0, 0.01f) == NULL, "ttt_create(0, ...) returns NULL");
    tap_ok(create(D, NAN) == NULL, "ttt_create(64, NaN) returns NULL");
    destroy(m);
    destroy(NULL);
    tap_ok(FreeLibrary(dll) != 0, "FreeLibrary");
}

static void extended_api(const float *in)
{
    ttt_config c;
    ttt_model *m = (ttt_model *)1;
    tap_ok(ttt_create_ex(NULL, &m) == TTT_ERR_INVALID_ARG && m == NULL, "ttt_create_ex(NULL): TTT_ERR_INVALID_ARG, *out NULL");
    ttt_config_default(&c);
    tap_ok(ttt_create_ex(&c, &m) == TTT_ERR_INVALID_ARG, "hidden_dim 0: TTT_ERR_INVALID_ARG");
    c.hidden_dim = D;
    c.inner_lr = 3.0f;
    tap_ok(ttt_create_ex(&c, &m) == TTT_ERR_INVALID_ARG, "inner_lr 3 (above 2): TTT_ERR_INVALID_ARG");
    c.inner_lr = 0.01f;
    tap_ok(ttt_create_ex(&c, &m) == TTT_OK && m, "ttt_create_ex(D 64)");
    if (!m)
        return;
    float out[N * D], s[N];
    tap_ok(ttt_forward_ex(m, in, N, out, s) == TTT_OK, "ttt_forward_ex of %d tokens", N);
    tap_ok(!memcmp(out, in, D * sizeof(float)) && fabsf(s[0] - 1.0f / (D / 4)) < 1e-6f,
           "first output is the input, first surprise 1/d (%g)", s[0]);
    ttt_stats st;
    tap_ok(ttt_get_stats(m, &st) == TTT_OK && st.tokens_seen == N, "counters: %d seen", N);
    tap_ok(ttt_set_inner_lr(m, -1.0f) == TTT_ERR_INVALID_ARG && ttt_get_inner_lr(m) == 0.01f,
           "ttt_set_inner_lr(-1): TTT_ERR_INVALID_ARG, eta unchanged");
    tap_ok(!strcmp(ttt_strerror(TTT_ERR_INVALID_ARG), "invalid argument") &&
               !strcmp(ttt_strerror(TTT_ERR_IO), "input/output error"),
           "ttt_strerror texts");
    tap_ok(ttt_version() == TTT_VERSION, "ttt_version %s matches the header", ttt_version_string());
    tap_ok(strlen(ttt_get_kernel_name(m)) > 0, "kernel in use: %s", ttt_get_kernel_name(m));
    ttt_destroy(m);
}

static int file_equals(const char *path, const unsigned char *want, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    unsigned char *got = malloc(n + 1);
    const int ok = got && fread(got, 1, n + 1, f) == n && !memcmp(got, want, n);
    free(got);
    fclose(f);
    return ok;
}

/* Temporary files (model.state.tmp.*) left in dir. */
static int leftovers(const char *dir)
{
    char pattern[MAX_PATH + 32];
    snprintf(pattern, sizeof pattern, "%s\\*.tmp.*", dir);
    WIN32_FIND_DATAA fd;
    HANDLE h = FindFirstFileA(pattern, &fd);
    if (h == INVALID_HANDLE_VALUE)
        return 0;
    int n = 0;
    do
        n++;
    while (FindNextFileA(h, &fd));
    FindClose(h);
    return n;
}

static void atomic_save(const float *in)
{
    char dir[MAX_PATH], path[MAX_PATH + 32];
    const DWORD len = GetTempPathA(MAX_PATH - 32, dir);
    int made = 0;
    /* wine reuses small process ids: a failed run's folder may be there */
    for (int i = 0; len > 0 && !made && i < 100; i++) {
        snprintf(dir + len, sizeof dir - len, "bitttt-%lu-%d", (unsigned long)GetCurrentProcessId(), i);
        made = CreateDirectoryA(dir, NULL);
    }
    tap_ok(made, "temp dir %s", dir);
    snprintf(path, sizeof path, "%s\\model.state", dir);

    /* the seed is stored verbatim in the header: these bytes are what text
     * mode would damage (\n written as \r\n, a read stopping at ^Z) */
    ttt_config c;
    ttt_config_default(&c);
    c.hidden_dim = D;
    c.seed = UINT64_C(0x0a1a0d0a1a0d0a1a);
    ttt_model *m = NULL, *twin = NULL, *back = NULL;
    ttt_create_ex(&c, &m);
    ttt_create_ex(&c, &twin);
    ttt_create_ex(&c, &back);
    const size_t size = ttt_state_size(m);
    unsigned char *old_buf = malloc(size), *new_buf = malloc(size);
    float out[N * D], out2[N * D];
    if (!m || !twin || !back || !old_buf || !new_buf) {
        tap_ok(0, "setup");
        return;
    }
    ttt_forward(m, in, N, out);
    ttt_forward(twin, in, N, out);
    tap_ok(ttt_state_save_file(m, path) == TTT_OK, "save to %s", path);
    ttt_state_save(m, old_buf, size, NULL);
    tap_ok(memchr(old_buf, '\n', size) && memchr(old_buf, 0x1a, size) && file_equals(path, old_buf, size),
           "the file holds exactly the memory format, \\n and ^Z bytes included");
    tap_ok(ttt_state_load_file(back, path) == TTT_OK, "load it back");
    ttt_forward(back, in, N, out);
    ttt_forward(twin, in, N, out2);
    tap_ok(!memcmp(out, out2, sizeof out), "the loaded model continues like the saved one");

    /* over an existing file: replaced whole */
    ttt_forward(m, in, N, out);
    ttt_state_save(m, new_buf, size, NULL);
    tap_ok(memcmp(old_buf, new_buf, size) != 0, "the model has learned more since");
    tap_ok(ttt_state_save_file(m, path) == TTT_OK && file_equals(path, new_buf, size),
           "save over an existing file replaces it");
    tap_ok(leftovers(dir) == 0, "no temporary file left behind");

    /* a reader holds the file without FILE_SHARE_DELETE: the replace fails */
    memcpy(old_buf, new_buf, size);
    ttt_forward(m, in, N, out);
    ttt_state_save(m, new_buf, size, NULL);
    HANDLE reader = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    tap_ok(reader != INVALID_HANDLE_VALUE, "another handle holds the file open");
    const int err = ttt_state_save_file(m, path);
    CloseHandle(reader);
    tap_ok(err == TTT_ERR_IO, "save while it is held: TTT_ERR_IO (%s)", ttt_strerror(err));
    tap_ok(file_equals(path, old_buf, size), "the failed save left the old file intact");
    tap_ok(leftovers(dir) == 0, "the failed save left no temporary file");
    tap_ok(ttt_state_save_file(m, path) == TTT_OK && file_equals(path, new_buf, size),
           "once released, the save goes through");

    char bad[MAX_PATH + 64];
    snprintf(bad, sizeof bad, "%s\\no\\such\\dir\\x.state", dir);
    tap_ok(ttt_state_save_file(m, bad) == TTT_ERR_IO, "missing directory: TTT_ERR_IO");
    snprintf(bad, sizeof bad, "%s\\nope", dir);
    tap_ok(ttt_state_load_file(m, bad) == TTT_ERR_IO, "missing file: TTT_ERR_IO");
    tap_ok(ttt_state_save_file(m, "") == TTT_ERR_INVALID_ARG, "empty path: TTT_ERR_INVALID_ARG");

    /* paths are UTF-8, as the bindings pass them: a name no single ANSI
     * code page holds (e grave and CJK), looked for under its UTF-16 name */
    char upath[MAX_PATH + 64];
    snprintf(upath, sizeof upath, "%s\\mod\xc3\xa8le-\xe7\x8a\xb6\xe6\x85\x8b.state", dir);
    wchar_t wpath[MAX_PATH + 64];
    const int wlen = MultiByteToWideChar(CP_UTF8, 0, dir, -1, wpath, MAX_PATH);
    if (wlen > 0)
        wcscpy(wpath + wlen - 1, L"\\mod\u00e8le-\u72b6\u614b.state");
    tap_ok(ttt_state_save_file(m, upath) == TTT_OK, "save to a UTF-8 name");
    tap_ok(wlen > 0 && GetFileAttributesW(wpath) != INVALID_FILE_ATTRIBUTES, "the file has that Unicode name");
    tap_ok(ttt_state_load_file(back, upath) == TTT_OK, "load from the UTF-8 name");
    DeleteFileW(wpath);
    snprintf(bad, sizeof bad, "%s\\bad\xff.state", dir);
    tap_ok(ttt_state_save_file(m, bad) == TTT_ERR_IO && ttt_state_load_file(m, bad) == TTT_ERR_IO,
           "a path that is not UTF-8: TTT_ERR_IO");
    tap_ok(leftovers(dir) == 0, "no temporary file left behind");

    DeleteFileA(path);
    RemoveDirectoryA(dir);
    free(old_buf);
    free(new_buf);
    ttt_destroy(m);
    ttt_destroy(twin);
    ttt_destroy(back);
}

int main(int argc, char **argv)
{
    static float in[N * D];
    test_fill(in, N * D);
    if (argc > 1)
        original_abi(argv[1], in);
    else
        tap_skip("no Bit_TTT.dll given");
    extended_api(in);
    atomic_save(in);
    return tap_done();
}
