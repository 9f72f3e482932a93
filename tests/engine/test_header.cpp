// Compiles the public header alone, as C++, and links against the C library.
#include <bitttt/bitttt.h>

int main()
{
    void *m = ttt_create(8, 0.01f);
    const bool ok = m != nullptr && ttt_version() == TTT_VERSION;
    ttt_destroy(m);
    return ok ? 0 : 1;
}
