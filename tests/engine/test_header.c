/* Compiles the public header alone, as strict C99. */
#include <bitttt/bitttt.h>

int main(void)
{
    ttt_config cfg;
    ttt_config_default(&cfg);
    return ttt_version() == TTT_VERSION && cfg.struct_size == sizeof cfg ? 0 : 1;
}
