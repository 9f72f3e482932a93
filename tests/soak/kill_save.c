/*
 * Crash safety of ttt_state_save_file: a child saves state to one path over
 * and over, alternating between two known states A and B; the parent
 * SIGKILLs it at random moments and then checks that the path loads
 * (TTT_OK) and holds exactly A or exactly B, never a mix or a torn file.
 *
 *   kill_save [KILLS [DIR]]    default 200 kills, DIR = current directory
 *
 * The state is large (1 MiB) so that many kills land in the middle of a
 * write. This covers a process crash, not a power cut (that would need a
 * machine to pull the plug on). A killed save leaves its temporary file
 * (path.tmp.XXXXXX) behind; they are counted and removed.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bitttt/bitttt.h>

#include "../engine/tap.h"

#define HD 2048
#define SD 512

/* The learned state after ntok tokens of a stream, into a new buffer. */
static unsigned char *learn(ttt_model *m, size_t ntok, size_t *n)
{
    float *x = malloc(ntok * HD * sizeof *x);
    *n = ttt_state_size(m);
    unsigned char *buf = malloc(*n);
    if (!x || !buf || ttt_reset(m) != TTT_OK)
        exit(1);
    test_fill(x, ntok * HD);
    if (ttt_forward(m, x, ntok, x) != TTT_OK || ttt_state_save(m, buf, *n, NULL) != TTT_OK)
        exit(1);
    free(x);
    return buf;
}

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long len;
    if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)len);
        if (buf && fread(buf, 1, (size_t)len, f) == (size_t)len)
            *n = (size_t)len;
        else {
            free(buf);
            buf = NULL;
        }
    }
    if (f)
        fclose(f);
    return buf;
}

/* Remove the temporary files of killed saves; returns how many there were. */
static int remove_temps(const char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    char path[4096 + 256];
    int n = 0;
    while (dp && (e = readdir(dp)) != NULL) {
        if (strncmp(e->d_name, "state.tmp.", 10) == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            n += unlink(path) == 0;
        }
    }
    if (dp)
        closedir(dp);
    return n;
}

int main(int argc, char **argv)
{
    const int kills = argc > 1 ? atoi(argv[1]) : 200;
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/kill_save.XXXXXX", argc > 2 ? argv[2] : ".");
    if (kills < 1 || !mkdtemp(dir)) {
        perror("kill_save: mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/state", dir);

    ttt_config c;
    ttt_model *m;
    ttt_config_default(&c);
    c.hidden_dim = HD;
    c.state_dim = SD;
    if (ttt_create_ex(&c, &m) != TTT_OK)
        return 1;
    size_t na, nb;
    unsigned char *a = learn(m, 3, &na), *b = learn(m, 7, &nb);
    tap_ok(na == nb && memcmp(a, b, na) != 0, "two distinct states of %zu bytes", na);
    tap_ok(ttt_state_save_file(m, path) == TTT_OK, "first save");

    /* the child starts with the state the file does not hold, so every
     * complete save changes the file */
    const unsigned char *cur = a;
    int loaded = 0, exact = 0, changed = 0, temps = 0, reaped = 0;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int k = 0; k < kills; k++) {
        fflush(stdout);
        const pid_t pid = fork();
        if (pid < 0)
            break;
        if (pid == 0) {
            const unsigned char *x = cur == a ? b : a, *y = cur;
            for (;;) {
                if (ttt_state_load(m, x, na) || ttt_state_save_file(m, path) ||
                    ttt_state_load(m, y, na) || ttt_state_save_file(m, path))
                    _exit(3);
            }
        }
        const long ns = (long)(rand() % 20000) * 1000; /* 0 to 20 ms */
        const struct timespec delay = {0, ns};
        nanosleep(&delay, NULL);
        int status = 0;
        kill(pid, SIGKILL);
        if (waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
            reaped++;
        size_t n = 0;
        unsigned char *got = read_file(path, &n);
        if (got && n == na && (memcmp(got, a, na) == 0 || memcmp(got, b, nb) == 0)) {
            const unsigned char *now = memcmp(got, a, na) == 0 ? a : b;
            exact++;
            changed += now != cur;
            cur = now;
        }
        free(got);
        loaded += ttt_state_load_file(m, path) == TTT_OK;
        temps += remove_temps(dir);
    }
    tap_ok(reaped == kills, "%d of %d children died by SIGKILL", reaped, kills);
    tap_ok(loaded == kills, "file loaded after %d of %d kills", loaded, kills);
    tap_ok(exact == kills, "file was exactly A or B after %d of %d kills", exact, kills);
    tap_ok(changed > 0 && changed < kills, "file changed after %d kills (odd number of saves completed), not after %d",
           changed, kills - changed);
    tap_ok(temps > 0, "%d kills landed inside a save (left a temporary file)", temps);
    unlink(path);
    rmdir(dir);
    free(a);
    free(b);
    ttt_destroy(m);
    return tap_done();
}
