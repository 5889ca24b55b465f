#include "CMachine.h"

static int measure_vector_level(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    // The builtins read CPUID and check that the OS saves the wider registers (XGETBV).
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

int swiftcaffe_vector_level(void) {
    static int cached = -1;  // threads may race to fill it; they store the same value
    int level = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (level < 0) {
        level = measure_vector_level();
        __atomic_store_n(&cached, level, __ATOMIC_RELAXED);
    }
    return level;
}
