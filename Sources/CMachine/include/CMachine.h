#ifndef SWIFTCAFFE_MACHINE_H
#define SWIFTCAFFE_MACHINE_H

/// Makes the calling thread flush denormal floats to zero (results and inputs: SSE's FTZ and
/// DAZ bits). Denormals appear as a net trains (tiny probabilities, decaying momentum) and
/// make every multiply that touches them about a hundred times slower on x86.
/// Does nothing on other processors.
void swiftcaffe_flush_denormals_to_zero(void);

/// The widest x86 vector instruction set this CPU runs and the operating system enables:
/// 2 for AVX-512 (F, CD, BW, DQ and VL, the set OpenBLAS's SkylakeX kernels use), 1 for AVX2
/// with FMA (its Haswell kernels), 0 for less or for another processor. Measured once.
int swiftcaffe_vector_level(void);

/// y = sigmoid(x), tanh(x), x·sigmoid(x) over `count` floats; `y` may be `x`. The
/// accuracy of VectorMath's (within 1e-7 and 2e-7 absolute), in C so that the loops vectorise.
void swiftcaffe_sigmoid(const float *x, float *y, long count);
void swiftcaffe_tanh(const float *x, float *y, long count);
void swiftcaffe_silu(const float *x, float *y, long count);
/// y = e^x within 2 ulp, saturating outside [−87.3, 88.4].
void swiftcaffe_exp(const float *x, float *y, long count);

/// Caffe's LRN across channels over `positions` positions of an N×H×W×C blob:
/// y = x·(k + α/n·Σ x²)^−β, the sum over the `size` channels centred on each (zeros past
/// the ends), summed in channel order. `scratch` holds 2·channels + size − 1 floats.
void swiftcaffe_lrn_channels_last(const float *x, float *y, long positions, long channels, long size, float k,
                                  float alpha_over_n, float beta, float *scratch);
/// target = max(source, target) (the source where it is larger, as `a > b ? a : b`), and
/// target += source, over `count` floats: a pooling window's rows in N×H×W×C blobs.
void swiftcaffe_max_into(float *target, const float *source, long count);
void swiftcaffe_add_into(float *target, const float *source, long count);

/// Convolution at stride 1 without dilation, one image at a time, run directly rather than by
/// im2col + GEMM: for inputs of few channels (DirectConvolution.c says why). Both kernels read
/// the image padded by `swiftcaffe_direct_convolution_pad` into channels × (height + 2·padH)
/// rows of `swiftcaffe_direct_convolution_padded_width(outW, kw)` floats, in a buffer of
/// `swiftcaffe_direct_convolution_padded_count` floats. outW must be ≥ 8.
long swiftcaffe_direct_convolution_padded_width(long outW, long kw);
long swiftcaffe_direct_convolution_padded_count(long channels, long height, long padH, long outW, long kw);
/// Floats of the gradient's `diffScratch`.
long swiftcaffe_direct_convolution_diff_count(long outputs, long outH, long outW, long kw);
void swiftcaffe_direct_convolution_pad(const float *image, long channels, long height, long width, long padH, long padW,
                                       long kw, long outW, float *padded);
/// output (outputs × outH × outW) = bias + weights (outputs × channels × kh × kw) ∗ padded; bias may be NULL.
void swiftcaffe_direct_convolution(const float *padded, long channels, long paddedH, const float *weights, const float *bias,
                                   long outputs, long kh, long kw, float *output, long outH, long outW);
/// Adds the weights' gradient to `gradient`, stored transposed (tap × outputs, tap = (c·kh + ki)·kw + kj),
/// and the bias's to `biasGradient` (may be NULL), each entry as 8 partial sums (`swiftcaffe_sum_lanes`
/// adds them up). `offsets` holds channels·kh·kw longs.
void swiftcaffe_direct_convolution_weight_gradient(const float *padded, long channels, long paddedH, const float *outputDiff,
                                                   long outputs, long kh, long kw, long outH, long outW, float *diffScratch,
                                                   long *offsets, float *gradient, float *biasGradient);
/// sums[i] += the 8 floats of lanes[8·i ..< 8·i + 8], for i < count.
void swiftcaffe_sum_lanes(const float *lanes, long count, float *sums);

#endif
