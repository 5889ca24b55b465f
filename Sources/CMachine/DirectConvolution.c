#include "Dispatch.h"
#include <string.h>

// Convolutions over few input channels (a net's first layer over grey or colour pictures),
// stride 1, run directly: im2col + GEMM would multiply over an inner dimension of only
// channels·kh·kw (25 for LeNet's conv1), where OpenBLAS spends more on packing than on
// multiplying. Here each kernel tap is one load of 8 neighbouring outputs' inputs, multiplied
// into a tile of 4 output channels × up to 24 positions held in registers.
//
// Both loops read a padded copy of the image (swiftcaffe_direct_convolution_pad): rows of
// round_up(outW, 8) + kw − 1 floats, zeros around the image, so that no load needs a bounds
// check. Multiply-adds may fuse: the same CPU always gives the same bits, as OpenBLAS does.
#pragma clang fp contract(fast)

typedef float vector8 __attribute__((vector_size(32)));
typedef float unaligned8 __attribute__((vector_size(32), aligned(4)));

#define ALWAYS static inline __attribute__((always_inline))

ALWAYS vector8 load8(const float *p) { return *(const unaligned8 *)p; }
ALWAYS void store8(float *p, vector8 v) { *(unaligned8 *)p = v; }
ALWAYS vector8 splat8(float s) { return (vector8){s, s, s, s, s, s, s, s}; }

long swiftcaffe_direct_convolution_padded_width(long outW, long kw) { return (outW + 7) / 8 * 8 + kw - 1; }

// The gradient's flat lines read up to kw + 6 floats past the last plane: zeros too.
long swiftcaffe_direct_convolution_padded_count(long channels, long height, long padH, long outW, long kw) {
    long paddedW = swiftcaffe_direct_convolution_padded_width(outW, kw);
    return channels * (height + 2 * padH) * paddedW + paddedW + 8;
}

long swiftcaffe_direct_convolution_diff_count(long outputs, long outH, long outW, long kw) {
    return outputs * ((outH * swiftcaffe_direct_convolution_padded_width(outW, kw) + 7) / 8 * 8);
}

void swiftcaffe_direct_convolution_pad(const float *image, long channels, long height, long width, long padH, long padW,
                                       long kw, long outW, float *padded) {
    long paddedH = height + 2 * padH, paddedW = swiftcaffe_direct_convolution_padded_width(outW, kw);
    memset(padded, 0, sizeof(float) * (size_t)swiftcaffe_direct_convolution_padded_count(channels, height, padH, outW, kw));
    for (long c = 0; c < channels; c++)
        for (long y = 0; y < height; y++)
            memcpy(padded + (c * paddedH + y + padH) * paddedW + padW, image + (c * height + y) * width, sizeof(float) * (size_t)width);
}

// Outputs o..o+OB−1, positions x..x+8·XB−1 of output row `in`'s: out = bias + Σ taps w·in.
ALWAYS void forward_tile(const float *in, long plane, long paddedW, const float *weights, long volume, const float *bias,
                         long channels, long kh, long kw, float *out, long outArea, const int OB, const int XB) {
    vector8 acc[4][3];
    for (int ob = 0; ob < OB; ob++)
        for (int xb = 0; xb < XB; xb++) acc[ob][xb] = splat8(bias ? bias[ob] : 0.0f);
    for (long c = 0; c < channels; c++)
        for (long ki = 0; ki < kh; ki++) {
            const float *row = in + c * plane + ki * paddedW, *w = weights + (c * kh + ki) * kw;
            for (long kj = 0; kj < kw; kj++) {
                vector8 v[3];
                for (int xb = 0; xb < XB; xb++) v[xb] = load8(row + kj + 8 * xb);
                for (int ob = 0; ob < OB; ob++) {
                    vector8 s = splat8(w[ob * volume + kj]);
                    for (int xb = 0; xb < XB; xb++) acc[ob][xb] += s * v[xb];
                }
            }
        }
    for (int ob = 0; ob < OB; ob++)
        for (int xb = 0; xb < XB; xb++) store8(out + ob * outArea + 8 * xb, acc[ob][xb]);
}

// Every output row of channels o..o+OB−1. A row's last piece of fewer than 8 positions is
// computed as the 8 that end the row, overlapping the piece before (outW ≥ 8).
ALWAYS void forward_rows(const float *padded, long channels, long paddedH, long paddedW, const float *weights, long volume,
                         const float *bias, long kh, long kw, float *output, long outH, long outW, const int OB) {
    long plane = paddedH * paddedW, outArea = outH * outW;
    for (long y = 0; y < outH; y++) {
        const float *in = padded + y * paddedW;
        float *out = output + y * outW;
        long x = 0;
        for (; x + 24 <= outW; x += 24) forward_tile(in + x, plane, paddedW, weights, volume, bias, channels, kh, kw, out + x, outArea, OB, 3);
        if (x + 16 <= outW) {
            forward_tile(in + x, plane, paddedW, weights, volume, bias, channels, kh, kw, out + x, outArea, OB, 2);
            x += 16;
        }
        if (x + 8 <= outW) {
            forward_tile(in + x, plane, paddedW, weights, volume, bias, channels, kh, kw, out + x, outArea, OB, 1);
            x += 8;
        }
        if (x < outW) forward_tile(in + outW - 8, plane, paddedW, weights, volume, bias, channels, kh, kw, out + outW - 8, outArea, OB, 1);
    }
}

ALWAYS void direct_forward(const float *padded, long channels, long paddedH, const float *weights, const float *bias,
                           long outputs, long kh, long kw, float *output, long outH, long outW) {
    long paddedW = swiftcaffe_direct_convolution_padded_width(outW, kw), volume = channels * kh * kw, outArea = outH * outW;
    long o = 0;
    for (; o + 4 <= outputs; o += 4)
        forward_rows(padded, channels, paddedH, paddedW, weights + o * volume, volume, bias ? bias + o : 0, kh, kw, output + o * outArea, outH, outW, 4);
    for (; o < outputs; o++)
        forward_rows(padded, channels, paddedH, paddedW, weights + o * volume, volume, bias ? bias + o : 0, kh, kw, output + o * outArea, outH, outW, 1);
}

// The gradient runs over each plane as one flat line: the output gradient is copied into rows
// as long as the padded image's (zeros past each row's outW), so that position i of the
// gradient and i + offset of the image are the pair a tap multiplies, with offset
// c·plane + ki·paddedW + kj. The zeros cost (paddedW − outW)/paddedW more multiply-adds; the
// loop (84 vectors long for LeNet) replaces rows of 3. Those zeros meet image values (the
// next row's first columns, the next plane's first rows): an infinite input there turns a
// tap's gradient to NaN (0·∞) where im2col's would stay finite, but the outputs that read it
// are infinite already, and training stops at the loss. Sums stay in 8 lanes per gradient
// entry, added image after image; swiftcaffe_sum_lanes adds the lanes once per batch (per
// image, the horizontal sums took a fifth of the time).

// Gradients of taps `offsets[0..T−1]` (writing to `slots`), outputs o..o+OB−1.
ALWAYS void gradient_tile(const float *padded, const long *offsets, const long *slots, const float *diff, long length,
                          long outputs, float *gradient, const int OB, const int T) {
    vector8 acc[4][5];
    for (int ob = 0; ob < OB; ob++)
        for (int t = 0; t < T; t++) acc[ob][t] = splat8(0.0f);
    for (long i = 0; i < length; i += 8) {
        vector8 g[4];
        for (int ob = 0; ob < OB; ob++) g[ob] = load8(diff + ob * length + i);
        for (int t = 0; t < T; t++) {
            vector8 v = load8(padded + offsets[t] + i);
            for (int ob = 0; ob < OB; ob++) acc[ob][t] += g[ob] * v;
        }
    }
    for (int t = 0; t < T; t++)
        for (int ob = 0; ob < OB; ob++) {
            float *lanes = gradient + 8 * (slots[t] * outputs + ob);
            store8(lanes, load8(lanes) + acc[ob][t]);
        }
}

ALWAYS void gradient_outputs(const float *padded, const long *offsets, long taps, const float *diff, long length, long outputs,
                             float *gradient, const int OB, const int T) {
    long t = 0;
    long slots[5];
    for (; t + T <= taps; t += T) {
        for (int k = 0; k < T; k++) slots[k] = t + k;
        gradient_tile(padded, offsets + t, slots, diff, length, outputs, gradient, OB, T);
    }
    for (; t < taps; t++) {
        slots[0] = t;
        gradient_tile(padded, offsets + t, slots, diff, length, outputs, gradient, OB, 1);
    }
}

ALWAYS void direct_weight_gradient(const float *padded, long channels, long paddedH, const float *outputDiff, long outputs,
                                   long kh, long kw, long outH, long outW, float *diffScratch, long *offsets, float *gradient,
                                   float *biasGradient, const int T) {
    long paddedW = swiftcaffe_direct_convolution_padded_width(outW, kw), length = (outH * paddedW + 7) / 8 * 8;
    // Copied in vectors: memcpy and memset, called per row of 24, took an eighth of the time.
    for (long o = 0; o < outputs; o++) {
        float *line = diffScratch + o * length;
        for (long y = 0; y < outH; y++) {
            const float *source = outputDiff + (o * outH + y) * outW;
            float *row = line + y * paddedW;
            long x = 0;
            for (; x + 8 <= outW; x += 8) store8(row + x, load8(source + x));
            for (; x < outW; x++) row[x] = source[x];
            for (; x < paddedW; x++) row[x] = 0;
        }
        for (long i = outH * paddedW; i < length; i++) line[i] = 0;
    }
    // Four outputs' sums side by side: one running sum waits 4 cycles an add (a fifth of the
    // time, summed one output after another).
    for (long o = 0; biasGradient && o < outputs; o += 4) {
        long count = outputs - o < 4 ? outputs - o : 4;
        vector8 total[4];
        for (long k = 0; k < count; k++) total[k] = load8(biasGradient + 8 * (o + k));
        for (long i = 0; i < length; i += 8)
            for (long k = 0; k < count; k++) total[k] += load8(diffScratch + (o + k) * length + i);
        for (long k = 0; k < count; k++) store8(biasGradient + 8 * (o + k), total[k]);
    }
    long taps = 0;
    for (long c = 0; c < channels; c++)
        for (long ki = 0; ki < kh; ki++)
            for (long kj = 0; kj < kw; kj++) offsets[taps++] = (c * paddedH + ki) * paddedW + kj;
    long o = 0;
    for (; o + 4 <= outputs; o += 4) gradient_outputs(padded, offsets, taps, diffScratch + o * length, length, outputs, gradient + 8 * o, 4, T);
    for (; o < outputs; o++) gradient_outputs(padded, offsets, taps, diffScratch + o * length, length, outputs, gradient + 8 * o, 1, T);
}

void swiftcaffe_sum_lanes(const float *lanes, long count, float *sums) {
    for (long i = 0; i < count; i++) {
        const float *v = lanes + 8 * i;
        sums[i] += ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
    }
}

#define DIRECT_CONVOLUTION(suffix, attributes, taps)                                                                                  \
    attributes static void forward_##suffix(const float *padded, long channels, long paddedH, const float *weights,             \
                                            const float *bias, long outputs, long kh, long kw, float *output, long outH,        \
                                            long outW) {                                                                        \
        direct_forward(padded, channels, paddedH, weights, bias, outputs, kh, kw, output, outH, outW);                          \
    }                                                                                                                           \
    attributes static void gradient_##suffix(const float *padded, long channels, long paddedH, const float *outputDiff,         \
                                             long outputs, long kh, long kw, long outH, long outW, float *diffScratch,          \
                                             long *offsets, float *gradient, float *biasGradient) {                             \
        direct_weight_gradient(padded, channels, paddedH, outputDiff, outputs, kh, kw, outH, outW, diffScratch, offsets,       \
                               gradient, biasGradient, taps);                                                                   \
    }

DIRECT_CONVOLUTION(base, , 2)
#if defined(__x86_64__)
DIRECT_CONVOLUTION(avx2, __attribute__((target("avx2,fma"))), 2)
DIRECT_CONVOLUTION(avx512, __attribute__((target("avx512f,avx512vl,avx2,fma"))), 5)
#endif

void swiftcaffe_direct_convolution(const float *padded, long channels, long paddedH, const float *weights, const float *bias,
                                   long outputs, long kh, long kw, float *output, long outH, long outW) {
    DISPATCH(forward, padded, channels, paddedH, weights, bias, outputs, kh, kw, output, outH, outW)
}

void swiftcaffe_direct_convolution_weight_gradient(const float *padded, long channels, long paddedH, const float *outputDiff,
                                                   long outputs, long kh, long kw, long outH, long outW, float *diffScratch,
                                                   long *offsets, float *gradient, float *biasGradient) {
    DISPATCH(gradient, padded, channels, paddedH, outputDiff, outputs, kh, kw, outH, outW, diffScratch, offsets, gradient, biasGradient)
}
