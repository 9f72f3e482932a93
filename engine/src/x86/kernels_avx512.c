#include "kernels.h"
const ttt_kernels ttt_kernels_avx512 = { "avx512-placeholder", 0, 0, 0, 0, 0 };
const ttt_kernels ttt_kernels_avx512vnni = { "avx512vnni-placeholder", 0, 0, 0, 0, 0 };
