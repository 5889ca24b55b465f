#include "Dispatch.h"

// Loops over N×H×W×C blobs, where a position's channels lie side by side: each one runs
// along the channels, in vectors as wide as the CPU has (the same three builds and choice
// as VectorFunctions.c). Multiply-adds are not fused, so every build gives the same bits.
#pragma clang fp contract(off)

#define CHANNELS_LAST_LOOPS(suffix, attributes)                                                                       \
    attributes static void lrn_##suffix(const float *x, float *y, long positions, long channels, long size, float k, \
                                        float alpha_over_n, float beta, float *scratch) {                            \
        long half = size / 2;                                                                                         \
        float *squares = scratch, *sums = scratch + channels + 2 * half;                                              \
        for (long c = 0; c < channels + 2 * half; c++) squares[c] = 0;                                                \
        for (long p = 0; p < positions; p++) {                                                                        \
            const float *in = x + p * channels;                                                                       \
            float *out = y + p * channels;                                                                            \
            for (long c = 0; c < channels; c++) squares[half + c] = in[c] * in[c];                                    \
            for (long c = 0; c < channels; c++) sums[c] = 0;                                                          \
            for (long offset = 0; offset < size; offset++)                                                            \
                for (long c = 0; c < channels; c++) sums[c] += squares[offset + c];                                   \
            if (beta == 0.75f) {                                                                                      \
                for (long c = 0; c < channels; c++) {                                                                 \
                    float s = k + alpha_over_n * sums[c], root = __builtin_elementwise_sqrt(s);                       \
                    out[c] = in[c] * (1.0f / (root * __builtin_elementwise_sqrt(root)));                              \
                }                                                                                                     \
            } else {                                                                                                  \
                for (long c = 0; c < channels; c++) out[c] = in[c] * __builtin_powf(k + alpha_over_n * sums[c], -beta); \
            }                                                                                                         \
        }                                                                                                             \
    }                                                                                                                 \
    attributes static void max_into_##suffix(float *target, const float *source, long count) {                       \
        for (long i = 0; i < count; i++) target[i] = source[i] > target[i] ? source[i] : target[i];                  \
    }                                                                                                                 \
    attributes static void add_into_##suffix(float *target, const float *source, long count) {                       \
        for (long i = 0; i < count; i++) target[i] += source[i];                                                      \
    }

CHANNELS_LAST_LOOPS(base, )
#if defined(__x86_64__)
CHANNELS_LAST_LOOPS(avx2, __attribute__((target("avx2,fma"))))
CHANNELS_LAST_LOOPS(avx512, __attribute__((target("avx512f,avx2,fma"))))
#endif

void swiftcaffe_lrn_channels_last(const float *x, float *y, long positions, long channels, long size, float k,
                                  float alpha_over_n, float beta, float *scratch) {
    DISPATCH(lrn, x, y, positions, channels, size, k, alpha_over_n, beta, scratch)
}

void swiftcaffe_max_into(float *target, const float *source, long count) { DISPATCH(max_into, target, source, count) }

void swiftcaffe_add_into(float *target, const float *source, long count) { DISPATCH(add_into, target, source, count) }
