#include "Dispatch.h"
#include <stdint.h>
#include <string.h>

// e^x for one float, written without branches so that the compiler runs the loops below
// eight (or sixteen) lanes at a time: Swift's SIMD8 version called its min/max per vector
// and ran about ten times slower. The algorithm is VectorMath.exp's (its doc comment says
// why each step): clamp, x = k·ln 2 + r, Cephes's degree-6 polynomial for e^r, 2^k through
// the exponent bits; NaN stays NaN.
static inline float exp_lane(float x) {
    float clamped = x < -87.33654f ? -87.33654f : (x > 88.37626f ? 88.37626f : x);
    float shifted = clamped * 1.442695040888963f + 12582912.0f;
    float k = shifted - 12582912.0f;
    float r = clamped - k * 0.693359375f + k * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float er = p * r * r + r + 1.0f;
    int32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    int32_t exponent = (int32_t)((uint32_t)(bits - 0x4B400000 + 127) << 23);
    float scale;
    memcpy(&scale, &exponent, sizeof scale);
    float result = er * scale;
    return x != x ? x : result;
}

// Each loop three times: for SSE2 (any x86-64), AVX2 with FMA (8 lanes) and AVX-512 (16),
// chosen once by what the CPU runs (swiftcaffe_vector_level). The target attributes let the
// compiler use the wider instructions in these functions alone; exp_lane inlines into each.
#define VECTOR_LOOPS(suffix, attributes)                                                        \
    attributes static void sigmoid_##suffix(const float *x, float *y, long count) {           \
        for (long i = 0; i < count; i++) y[i] = 1.0f / (1.0f + exp_lane(-x[i]));               \
    }                                                                                           \
    attributes static void tanh_##suffix(const float *x, float *y, long count) {              \
        for (long i = 0; i < count; i++) y[i] = 1.0f - 2.0f / (exp_lane(2.0f * x[i]) + 1.0f); \
    }                                                                                           \
    attributes static void silu_##suffix(const float *x, float *y, long count) {              \
        for (long i = 0; i < count; i++) y[i] = x[i] / (1.0f + exp_lane(-x[i]));               \
    }                                                                                           \
    attributes static void exp_##suffix(const float *x, float *y, long count) {               \
        for (long i = 0; i < count; i++) y[i] = exp_lane(x[i]);                                \
    }

VECTOR_LOOPS(base, )
#if defined(__x86_64__)
VECTOR_LOOPS(avx2, __attribute__((target("avx2,fma"))))
VECTOR_LOOPS(avx512, __attribute__((target("avx512f,avx2,fma"))))
#endif

void swiftcaffe_sigmoid(const float *x, float *y, long count) { DISPATCH(sigmoid, x, y, count) }
void swiftcaffe_tanh(const float *x, float *y, long count) { DISPATCH(tanh, x, y, count) }
void swiftcaffe_silu(const float *x, float *y, long count) { DISPATCH(silu, x, y, count) }
void swiftcaffe_exp(const float *x, float *y, long count) { DISPATCH(exp, x, y, count) }
