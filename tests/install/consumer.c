/* An outside program, built only with `pkg-config --cflags --libs bitttt`. */
#include <bitttt/bitttt.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    float x[2 * 16], y[2 * 16];
    for (int i = 0; i < 32; i++)
        x[i] = (float)(i % 16) - 7.5f;
    void *m = ttt_create(16, 0.5f);
    if (!m || ttt_forward(m, x, 2, y) != 0) {
        fprintf(stderr, "consumer: engine failed\n");
        return 1;
    }
    /* first token passes unchanged; the repeat is transformed by memory */
    const int ok = !memcmp(x, y, 16 * sizeof(float)) && memcmp(x + 16, y + 16, 16 * sizeof(float)) != 0;
    printf("consumer: libbitttt %s, kernel %s: %s\n", ttt_version_string(),
           ttt_get_kernel_name(m), ok ? "memory effect seen" : "WRONG OUTPUT");
    ttt_destroy(m);
    return ok ? 0 : 1;
}
