#ifndef SWIFTCAFFE_CONVOLUTION_H
#define SWIFTCAFFE_CONVOLUTION_H

#include <stddef.h>

/// A 2-D convolution run by oneDNN on the layouts its kernels want (blocked channels such as
/// nChw16c), with SwiftCaffe's N×C×H×W blobs and O×(C/g)×kh×kw weights at its edges.
///
/// oneDNN picks its kernels by the CPU's instruction set when the primitives are created
/// (AVX-512, AVX2, ...), so the speed does not depend on how OpenBLAS was configured. Each
/// call reorders the input into the engine's layout and the output back; weights are
/// reordered by `set_weights`, which an inference net calls once and training calls each
/// forward. All functions return 0 on success, or write a message into `error` and return -1.
typedef struct swiftcaffe_convolution swiftcaffe_convolution;

typedef struct {
    int batch, channels, height, width;
    int outputs, groups;
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
    int output_h, output_w;
    /// 1 when backward will be asked for (forward then keeps what backward needs).
    int training;
    /// 1 to add the convolution to what the output holds (a residual sum folded in), before
    /// the ReLU.
    int accumulate;
    /// 1 to apply max(x, 0) + slope·min(x, 0) to the output as it is written.
    int relu;
    float relu_slope;
    /// 1 to clip the output to [clip_low, clip_high] after that (a ReLU6).
    int clip;
    float clip_low, clip_high;
    /// 1 to run forward by Winograd's F(m, 3) where oneDNN has a kernel for it (inference, 3×3
    /// at stride 1), direct otherwise.
    int winograd;
    /// 1 when the input (output) blob is laid out N×H×W×C rather than N×C×H×W.
    int input_channels_last, output_channels_last;
    /// Threads the kernels are made for (oneDNN plans its work split when it creates them).
    int threads;
} swiftcaffe_convolution_shape;

swiftcaffe_convolution *swiftcaffe_convolution_create(const swiftcaffe_convolution_shape *shape, char *error, size_t error_size);
void swiftcaffe_convolution_destroy(swiftcaffe_convolution *convolution);

/// Bytes the engine holds besides the blobs: the reordered weights, and for training the
/// reordered copies backward reads and the gradients.
size_t swiftcaffe_convolution_bytes(const swiftcaffe_convolution *convolution);

/// Bytes of scratch each call needs (64-byte aligned), which the caller lends for the call
/// and may lend to other engines between calls: forward's input and output in the engine's
/// layout where it differs from the blobs', and oneDNN's own scratchpads.
size_t swiftcaffe_convolution_scratch_bytes(const swiftcaffe_convolution *convolution);

/// A short name of the kernels oneDNN chose for forward ("brgconv:avx512_core", ...).
const char *swiftcaffe_convolution_kernel(const swiftcaffe_convolution *convolution);

/// Copies the weights (and bias, which may be NULL) into the engine's layout.
int swiftcaffe_convolution_set_weights(swiftcaffe_convolution *convolution, const float *weights, const float *bias,
                                       char *error, size_t error_size);

/// output = input ∗ weights + bias (+ output, when made to accumulate; then the ReLU), with
/// the last weights set.
int swiftcaffe_convolution_forward(swiftcaffe_convolution *convolution, const float *input, float *output, void *scratch,
                                   int threads, char *error, size_t error_size);

/// input_diff = output_diff ∗ᵀ weights (written, not added), with the last weights set.
int swiftcaffe_convolution_backward_data(swiftcaffe_convolution *convolution, const float *output_diff, float *input_diff,
                                         void *scratch, int threads, char *error, size_t error_size);

/// weights_diff += input ⋆ output_diff and bias_diff += Σ output_diff (bias_diff may be NULL).
int swiftcaffe_convolution_backward_weights(swiftcaffe_convolution *convolution, const float *input, const float *output_diff,
                                            float *weights_diff, float *bias_diff, void *scratch, int threads, char *error,
                                            size_t error_size);

#endif
