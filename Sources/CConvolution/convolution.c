// oneDNN's convolution behind the small C interface of CConvolution.h. Written in C because
// oneDNN's C API passes descriptors as large structs by pointer, which is plain here and
// awkward from Swift.
#include "CConvolution.h"

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/// A memory in the engine's layout, with the reorders between it and the user's plain one.
/// When both layouts agree the engine reads and writes the user's memory directly. Forward's
/// input and output live in the caller's scratch (`borrowed`) during the call; the others
/// keep memory of their own.
typedef struct {
    dnnl_memory_t user, inner;
    dnnl_primitive_t to_inner, to_user;
    int same;
    size_t bytes;
} staged_memory;

struct swiftcaffe_convolution {
    swiftcaffe_convolution_shape shape;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_attr_t attributes;
    dnnl_primitive_desc_t forward_pd, data_pd, weights_pd;
    dnnl_primitive_t forward, backward_data, backward_weights;
    // Forward: input, weights (forward's layout), bias, output.
    staged_memory src, weights, dst;
    dnnl_memory_t bias;
    // Backward: output diff and input diff in backward data's layouts, the weights in its
    // layout, input and output diff in backward weights' layouts, and the gradients.
    staged_memory data_dst_diff, data_src_diff, data_weights;
    staged_memory weights_src, weights_dst_diff, weights_diff;
    dnnl_memory_t bias_diff;
    // oneDNN's scratchpads, in the caller's scratch too (after forward's input and output).
    dnnl_memory_t forward_scratchpad, data_scratchpad, weights_scratchpad;
    size_t forward_scratchpad_bytes, data_scratchpad_bytes, weights_scratchpad_bytes;
    float *plain_weights_diff, *plain_bias_diff;
    char kernel[64];
};

static int fail(char *error, size_t size, const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(error, size, format, arguments);
    va_end(arguments);
    return -1;
}

#define CHECK(call)                                                                        \
    do {                                                                                   \
        dnnl_status_t status_ = (call);                                                    \
        if (status_ != dnnl_success)                                                       \
            return fail(error, error_size, "oneDNN: %s failed with status %d", #call, (int)status_); \
    } while (0)

/// oneDNN's OpenMP runtime takes its thread count from the calling thread's OpenMP setting.
/// libgomp comes with libdnnl, so its function is looked up rather than linked against.
static void set_threads(int threads) {
    static void (*set)(int) = NULL;
    static int looked = 0;
    if (!looked) {
        set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
        looked = 1;
    }
    if (set) set(threads < 1 ? 1 : threads);
}

static int stage(swiftcaffe_convolution *c, staged_memory *memory, const dnnl_memory_desc_t *user, const dnnl_memory_desc_t *inner,
                 int to_inner, int to_user, int borrowed, char *error, size_t error_size) {
    memory->same = dnnl_memory_desc_equal(user, inner);
    memory->bytes = memory->same ? 0 : dnnl_memory_desc_get_size(inner);
    CHECK(dnnl_memory_create(&memory->user, user, c->engine, DNNL_MEMORY_NONE));
    if (memory->same) {
        memory->inner = memory->user;
        return 0;
    }
    CHECK(dnnl_memory_create(&memory->inner, inner, c->engine, borrowed ? DNNL_MEMORY_NONE : DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t pd;
    if (to_inner) {
        CHECK(dnnl_reorder_primitive_desc_create(&pd, user, c->engine, inner, c->engine, NULL));
        CHECK(dnnl_primitive_create(&memory->to_inner, pd));
        dnnl_primitive_desc_destroy(pd);
    }
    if (to_user) {
        CHECK(dnnl_reorder_primitive_desc_create(&pd, inner, c->engine, user, c->engine, NULL));
        CHECK(dnnl_primitive_create(&memory->to_user, pd));
        dnnl_primitive_desc_destroy(pd);
    }
    return 0;
}

static void release(staged_memory *memory) {
    if (memory->to_inner) dnnl_primitive_destroy(memory->to_inner);
    if (memory->to_user) dnnl_primitive_destroy(memory->to_user);
    if (memory->inner && !memory->same) dnnl_memory_destroy(memory->inner);
    if (memory->user) dnnl_memory_destroy(memory->user);
}

/// A memory for a primitive's scratchpad in user mode (its handle set at each call), and its size.
static int scratchpad(swiftcaffe_convolution *c, dnnl_primitive_desc_t pd, dnnl_memory_t *memory, size_t *bytes,
                      char *error, size_t error_size) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    *bytes = md ? dnnl_memory_desc_get_size(md) : 0;
    if (*bytes) CHECK(dnnl_memory_create(memory, md, c->engine, DNNL_MEMORY_NONE));
    return 0;
}

static size_t aligned(size_t bytes) { return (bytes + 63) / 64 * 64; }

static int run(swiftcaffe_convolution *c, dnnl_primitive_t primitive, int count, const dnnl_exec_arg_t *arguments,
               char *error, size_t error_size) {
    CHECK(dnnl_primitive_execute(primitive, c->stream, count, arguments));
    CHECK(dnnl_stream_wait(c->stream));
    return 0;
}

/// Points the user side at `pointer` and, when the layouts differ, reorders into the inner one.
static int bring_in(swiftcaffe_convolution *c, staged_memory *memory, const float *pointer, char *error, size_t error_size) {
    CHECK(dnnl_memory_set_data_handle(memory->user, (void *)pointer));
    if (memory->same) return 0;
    dnnl_exec_arg_t arguments[2] = {{DNNL_ARG_FROM, memory->user}, {DNNL_ARG_TO, memory->inner}};
    return run(c, memory->to_inner, 2, arguments, error, error_size);
}

static int bring_out(swiftcaffe_convolution *c, staged_memory *memory, float *pointer, char *error, size_t error_size) {
    CHECK(dnnl_memory_set_data_handle(memory->user, pointer));
    if (memory->same) return 0;
    dnnl_exec_arg_t arguments[2] = {{DNNL_ARG_FROM, memory->inner}, {DNNL_ARG_TO, memory->user}};
    return run(c, memory->to_user, 2, arguments, error, error_size);
}

static int create(swiftcaffe_convolution *c, char *error, size_t error_size) {
    const swiftcaffe_convolution_shape *s = &c->shape;
    set_threads(s->threads);
    CHECK(dnnl_engine_create(&c->engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags));
    dnnl_dims_t src_dims = {s->batch, s->channels, s->height, s->width};
    dnnl_dims_t dst_dims = {s->batch, s->outputs, s->output_h, s->output_w};
    dnnl_dims_t bias_dims = {s->outputs};
    dnnl_dims_t weight_dims = {s->groups, s->outputs / s->groups, s->channels / s->groups, s->kernel_h, s->kernel_w};
    dnnl_dims_t strides = {s->stride_h, s->stride_w}, dilates = {s->dilation_h - 1, s->dilation_w - 1};
    // Caffe pads the same on both sides and drops what does not fill a stride; oneDNN wants
    // the right padding that gives Caffe's output size (it may be negative).
    dnnl_dims_t pad_l = {s->pad_h, s->pad_w};
    dnnl_dims_t pad_r = {(s->output_h - 1) * s->stride_h + (s->kernel_h - 1) * s->dilation_h + 1 - s->height - s->pad_h,
                         (s->output_w - 1) * s->stride_w + (s->kernel_w - 1) * s->dilation_w + 1 - s->width - s->pad_w};
    int weight_axes = s->groups > 1 ? 5 : 4;
    const dnnl_dim_t *weight_shape = s->groups > 1 ? weight_dims : weight_dims + 1;
    dnnl_format_tag_t weight_tag = s->groups > 1 ? dnnl_goihw : dnnl_oihw;

    dnnl_memory_desc_t src_user, dst_user, weights_user, bias_md, src_any, dst_any, weights_any;
    CHECK(dnnl_memory_desc_init_by_tag(&src_user, 4, src_dims, dnnl_f32, s->input_channels_last ? dnnl_nhwc : dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_user, 4, dst_dims, dnnl_f32, s->output_channels_last ? dnnl_nhwc : dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&weights_user, weight_axes, weight_shape, dnnl_f32, weight_tag));
    CHECK(dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_x));
    CHECK(dnnl_memory_desc_init_by_tag(&src_any, 4, src_dims, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_any, 4, dst_dims, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&weights_any, weight_axes, weight_shape, dnnl_f32, dnnl_format_tag_any));

    CHECK(dnnl_primitive_attr_create(&c->attributes));
    dnnl_primitive_attr_t attributes = c->attributes;
    CHECK(dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user));
    if (s->accumulate || s->relu || s->clip) {
        // The attributes keep a copy of the post-ops.
        dnnl_post_ops_t post_ops;
        CHECK(dnnl_post_ops_create(&post_ops));
        dnnl_status_t built = dnnl_success;
        if (s->accumulate && built == dnnl_success) built = dnnl_post_ops_append_sum(post_ops, 1.0f);
        if (s->relu && built == dnnl_success) built = dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_relu, s->relu_slope, 0.0f);
        if (s->clip && built == dnnl_success) built = dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_clip, s->clip_low, s->clip_high);
        if (built == dnnl_success) built = dnnl_primitive_attr_set_post_ops(attributes, post_ops);
        dnnl_post_ops_destroy(post_ops);
        if (built != dnnl_success) return fail(error, error_size, "oneDNN: the post-ops failed with status %d", (int)built);
    }
    // Winograd first when asked for; oneDNN has it for fewer shapes and post-ops than direct.
    dnnl_status_t status = dnnl_unimplemented;
    for (int winograd = s->winograd; winograd >= 0 && status != dnnl_success; winograd--) {
        dnnl_convolution_desc_t forward;
        CHECK(dnnl_dilated_convolution_forward_desc_init(&forward, s->training ? dnnl_forward_training : dnnl_forward_inference,
                                                         winograd ? dnnl_convolution_winograd : dnnl_convolution_direct, &src_any,
                                                         &weights_any, &bias_md, &dst_any, strides, dilates, pad_l, pad_r));
        status = dnnl_primitive_desc_create(&c->forward_pd, &forward, attributes, c->engine, NULL);
    }
    if (status != dnnl_success) return fail(error, error_size, "oneDNN has no convolution for this shape (status %d)", (int)status);
    CHECK(dnnl_primitive_create(&c->forward, c->forward_pd));
    const char *kernel = "";
    dnnl_primitive_desc_query(c->forward_pd, dnnl_query_impl_info_str, 0, &kernel);
    snprintf(c->kernel, sizeof c->kernel, "%s", kernel);

    const dnnl_memory_desc_t *src_inner = dnnl_primitive_desc_query_md(c->forward_pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *weights_inner = dnnl_primitive_desc_query_md(c->forward_pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dst_inner = dnnl_primitive_desc_query_md(c->forward_pd, dnnl_query_dst_md, 0);
    if (stage(c, &c->src, &src_user, src_inner, 1, 0, 1, error, error_size)) return -1;
    if (stage(c, &c->weights, &weights_user, weights_inner, 1, 0, 0, error, error_size)) return -1;
    if (stage(c, &c->dst, &dst_user, dst_inner, s->accumulate, 1, 1, error, error_size)) return -1;
    if (scratchpad(c, c->forward_pd, &c->forward_scratchpad, &c->forward_scratchpad_bytes, error, error_size)) return -1;
    CHECK(dnnl_memory_create(&c->bias, &bias_md, c->engine, DNNL_MEMORY_ALLOCATE));
    if (!s->training) return 0;

    dnnl_convolution_desc_t data, weights;
    CHECK(dnnl_dilated_convolution_backward_data_desc_init(&data, dnnl_convolution_direct, &src_any, &weights_any, &dst_any,
                                                           strides, dilates, pad_l, pad_r));
    CHECK(dnnl_primitive_desc_create(&c->data_pd, &data, attributes, c->engine, c->forward_pd));
    CHECK(dnnl_primitive_create(&c->backward_data, c->data_pd));
    CHECK(dnnl_dilated_convolution_backward_weights_desc_init(&weights, dnnl_convolution_direct, &src_any, &weights_any, &bias_md,
                                                              &dst_any, strides, dilates, pad_l, pad_r));
    CHECK(dnnl_primitive_desc_create(&c->weights_pd, &weights, attributes, c->engine, c->forward_pd));
    if (scratchpad(c, c->data_pd, &c->data_scratchpad, &c->data_scratchpad_bytes, error, error_size)) return -1;
    if (scratchpad(c, c->weights_pd, &c->weights_scratchpad, &c->weights_scratchpad_bytes, error, error_size)) return -1;
    CHECK(dnnl_primitive_create(&c->backward_weights, c->weights_pd));
    if (stage(c, &c->data_dst_diff, &dst_user, dnnl_primitive_desc_query_md(c->data_pd, dnnl_query_diff_dst_md, 0), 1, 0, 0, error, error_size)) return -1;
    if (stage(c, &c->data_src_diff, &src_user, dnnl_primitive_desc_query_md(c->data_pd, dnnl_query_diff_src_md, 0), 0, 1, 0, error, error_size)) return -1;
    if (stage(c, &c->data_weights, &weights_user, dnnl_primitive_desc_query_md(c->data_pd, dnnl_query_weights_md, 0), 1, 0, 0, error, error_size)) return -1;
    if (stage(c, &c->weights_src, &src_user, dnnl_primitive_desc_query_md(c->weights_pd, dnnl_query_src_md, 0), 1, 0, 0, error, error_size)) return -1;
    if (stage(c, &c->weights_dst_diff, &dst_user, dnnl_primitive_desc_query_md(c->weights_pd, dnnl_query_diff_dst_md, 0), 1, 0, 0, error, error_size)) return -1;
    if (stage(c, &c->weights_diff, &weights_user, dnnl_primitive_desc_query_md(c->weights_pd, dnnl_query_diff_weights_md, 0), 0, 1, 0, error, error_size)) return -1;
    CHECK(dnnl_memory_create(&c->bias_diff, &bias_md, c->engine, DNNL_MEMORY_ALLOCATE));
    size_t weight_count = (size_t)s->outputs * (s->channels / s->groups) * s->kernel_h * s->kernel_w;
    c->plain_weights_diff = malloc(weight_count * sizeof(float));
    c->plain_bias_diff = malloc((size_t)s->outputs * sizeof(float));
    if (!c->plain_weights_diff || !c->plain_bias_diff) return fail(error, error_size, "out of memory for the weight gradient");
    return 0;
}

swiftcaffe_convolution *swiftcaffe_convolution_create(const swiftcaffe_convolution_shape *shape, char *error, size_t error_size) {
    swiftcaffe_convolution *c = calloc(1, sizeof *c);
    if (!c) {
        fail(error, error_size, "out of memory");
        return NULL;
    }
    c->shape = *shape;
    if (create(c, error, error_size)) {
        swiftcaffe_convolution_destroy(c);
        return NULL;
    }
    return c;
}

void swiftcaffe_convolution_destroy(swiftcaffe_convolution *c) {
    if (!c) return;
    staged_memory *all[] = {&c->src, &c->weights, &c->dst, &c->data_dst_diff, &c->data_src_diff, &c->data_weights,
                            &c->weights_src, &c->weights_dst_diff, &c->weights_diff};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) release(all[i]);
    if (c->bias) dnnl_memory_destroy(c->bias);
    if (c->bias_diff) dnnl_memory_destroy(c->bias_diff);
    dnnl_memory_t scratchpads[] = {c->forward_scratchpad, c->data_scratchpad, c->weights_scratchpad};
    for (size_t i = 0; i < 3; i++)
        if (scratchpads[i]) dnnl_memory_destroy(scratchpads[i]);
    dnnl_primitive_t primitives[] = {c->forward, c->backward_data, c->backward_weights};
    for (size_t i = 0; i < 3; i++)
        if (primitives[i]) dnnl_primitive_destroy(primitives[i]);
    dnnl_primitive_desc_t descriptors[] = {c->forward_pd, c->data_pd, c->weights_pd};
    for (size_t i = 0; i < 3; i++)
        if (descriptors[i]) dnnl_primitive_desc_destroy(descriptors[i]);
    if (c->attributes) dnnl_primitive_attr_destroy(c->attributes);
    if (c->stream) dnnl_stream_destroy(c->stream);
    if (c->engine) dnnl_engine_destroy(c->engine);
    free(c->plain_weights_diff);
    free(c->plain_bias_diff);
    free(c);
}

size_t swiftcaffe_convolution_bytes(const swiftcaffe_convolution *c) {
    return c->weights.bytes + c->data_dst_diff.bytes + c->data_src_diff.bytes + c->data_weights.bytes + c->weights_src.bytes +
           c->weights_dst_diff.bytes + c->weights_diff.bytes;
}

size_t swiftcaffe_convolution_scratch_bytes(const swiftcaffe_convolution *c) {
    size_t forward = aligned(c->src.bytes) + aligned(c->dst.bytes) + c->forward_scratchpad_bytes;
    size_t backward = c->data_scratchpad_bytes > c->weights_scratchpad_bytes ? c->data_scratchpad_bytes : c->weights_scratchpad_bytes;
    return forward > backward ? forward : backward;
}

const char *swiftcaffe_convolution_kernel(const swiftcaffe_convolution *c) { return c->kernel; }

int swiftcaffe_convolution_set_weights(swiftcaffe_convolution *c, const float *weights, const float *bias, char *error, size_t error_size) {
    set_threads(1);
    if (bring_in(c, &c->weights, weights, error, error_size)) return -1;
    if (c->shape.training && bring_in(c, &c->data_weights, weights, error, error_size)) return -1;
    void *handle;
    CHECK(dnnl_memory_get_data_handle(c->bias, &handle));
    if (bias) memcpy(handle, bias, (size_t)c->shape.outputs * sizeof(float));
    else memset(handle, 0, (size_t)c->shape.outputs * sizeof(float));
    return 0;
}

int swiftcaffe_convolution_forward(swiftcaffe_convolution *c, const float *input, float *output, void *scratch, int threads,
                                   char *error, size_t error_size) {
    set_threads(threads);
    char *next = scratch;
    staged_memory *borrowed[2] = {&c->src, &c->dst};
    for (int i = 0; i < 2; i++) {
        if (borrowed[i]->same) continue;
        CHECK(dnnl_memory_set_data_handle(borrowed[i]->inner, next));
        next += aligned(borrowed[i]->bytes);
    }
    if (c->forward_scratchpad) CHECK(dnnl_memory_set_data_handle(c->forward_scratchpad, next));
    if (bring_in(c, &c->src, input, error, error_size)) return -1;
    if (c->shape.accumulate) {
        // The sum post-op reads what the output holds, in the engine's layout.
        if (bring_in(c, &c->dst, output, error, error_size)) return -1;
    } else {
        CHECK(dnnl_memory_set_data_handle(c->dst.user, output));
    }
    dnnl_exec_arg_t arguments[5] = {{DNNL_ARG_SRC, c->src.inner}, {DNNL_ARG_WEIGHTS, c->weights.inner}, {DNNL_ARG_BIAS, c->bias},
                                    {DNNL_ARG_DST, c->dst.inner}, {DNNL_ARG_SCRATCHPAD, c->forward_scratchpad}};
    if (run(c, c->forward, c->forward_scratchpad ? 5 : 4, arguments, error, error_size)) return -1;
    return bring_out(c, &c->dst, output, error, error_size);
}

int swiftcaffe_convolution_backward_data(swiftcaffe_convolution *c, const float *output_diff, float *input_diff, void *scratch,
                                         int threads, char *error, size_t error_size) {
    if (!c->backward_data) return fail(error, error_size, "the convolution was not created for training");
    set_threads(threads);
    if (bring_in(c, &c->data_dst_diff, output_diff, error, error_size)) return -1;
    CHECK(dnnl_memory_set_data_handle(c->data_src_diff.user, input_diff));
    if (c->data_scratchpad) CHECK(dnnl_memory_set_data_handle(c->data_scratchpad, scratch));
    dnnl_exec_arg_t arguments[4] = {{DNNL_ARG_DIFF_DST, c->data_dst_diff.inner}, {DNNL_ARG_WEIGHTS, c->data_weights.inner},
                                    {DNNL_ARG_DIFF_SRC, c->data_src_diff.inner}, {DNNL_ARG_SCRATCHPAD, c->data_scratchpad}};
    if (run(c, c->backward_data, c->data_scratchpad ? 4 : 3, arguments, error, error_size)) return -1;
    return bring_out(c, &c->data_src_diff, input_diff, error, error_size);
}

int swiftcaffe_convolution_backward_weights(swiftcaffe_convolution *c, const float *input, const float *output_diff, float *weights_diff,
                                            float *bias_diff, void *scratch, int threads, char *error, size_t error_size) {
    if (!c->backward_weights) return fail(error, error_size, "the convolution was not created for training");
    set_threads(threads);
    if (bring_in(c, &c->weights_src, input, error, error_size)) return -1;
    if (bring_in(c, &c->weights_dst_diff, output_diff, error, error_size)) return -1;
    CHECK(dnnl_memory_set_data_handle(c->weights_diff.user, c->plain_weights_diff));
    if (c->weights_scratchpad) CHECK(dnnl_memory_set_data_handle(c->weights_scratchpad, scratch));
    dnnl_exec_arg_t arguments[5] = {{DNNL_ARG_SRC, c->weights_src.inner}, {DNNL_ARG_DIFF_DST, c->weights_dst_diff.inner},
                                    {DNNL_ARG_DIFF_WEIGHTS, c->weights_diff.inner}, {DNNL_ARG_DIFF_BIAS, c->bias_diff},
                                    {DNNL_ARG_SCRATCHPAD, c->weights_scratchpad}};
    if (run(c, c->backward_weights, c->weights_scratchpad ? 5 : 4, arguments, error, error_size)) return -1;
    if (bring_out(c, &c->weights_diff, c->plain_weights_diff, error, error_size)) return -1;
    // The layer contract adds parameter gradients (iter_size, shared weights).
    size_t count = (size_t)c->shape.outputs * (c->shape.channels / c->shape.groups) * c->shape.kernel_h * c->shape.kernel_w;
    for (size_t i = 0; i < count; i++) weights_diff[i] += c->plain_weights_diff[i];
    if (bias_diff) {
        void *handle;
        CHECK(dnnl_memory_get_data_handle(c->bias_diff, &handle));
        const float *sums = handle;
        for (int o = 0; o < c->shape.outputs; o++) bias_diff[o] += sums[o];
    }
    return 0;
}
