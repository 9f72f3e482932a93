/*
 * Replays fuzz inputs through a fuzz target once each, without libFuzzer, so
 * the seed corpora and fixed crash reproducers run in every normal build.
 * Arguments are files or directories (their files, in name order). TAP out;
 * a broken invariant traps, which the test runner reports as a failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int n_run, n_failed;

static void run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long len = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc(len ? (size_t)len : 1);
        if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len)
            len = -1;
    }
    if (f)
        fclose(f);
    n_run++;
    if (!buf || len < 0) {
        n_failed++;
        printf("not ok %d - %s: cannot read\n", n_run, path);
    } else {
        fflush(stdout);
        LLVMFuzzerTestOneInput(buf, (size_t)len);
        printf("ok %d - %s (%ld bytes)\n", n_run, path, len);
    }
    free(buf);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        run_file(path);
        return;
    }
    DIR *dir = opendir(path);
    if (!dir) {
        printf("not ok %d - %s: cannot open\n", ++n_run, path);
        n_failed++;
        return;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char **grown = realloc(names, (n + 1) * sizeof *names);
        if (!grown)
            break;
        names = grown;
        names[n] = malloc(strlen(path) + strlen(e->d_name) + 2);
        if (!names[n])
            break;
        sprintf(names[n++], "%s/%s", path, e->d_name);
    }
    closedir(dir);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        run_file(names[i]);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        run_path(argv[i]);
    if (n_run == 0) {
        printf("not ok 1 - no inputs given\n");
        n_run = n_failed = 1;
    }
    printf("1..%d\n", n_run);
    return n_failed ? 1 : 0;
}
