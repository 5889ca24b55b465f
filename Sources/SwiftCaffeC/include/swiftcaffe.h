/*
 * swiftcaffe.h: SwiftCaffe's C API, exported by libSwiftCaffeC.so (`swift build -c release
 * --product SwiftCaffeC`). The Python package (python/swiftcaffe) is built on it; any language
 * with a C foreign-function interface can use it the same way.
 *
 * Conventions
 * - Every function that can fail returns an `int`: SC_OK (0), or an SC_ERROR_* code. The
 *   message, naming the file, line, column, layer and fix as the command line does, is then
 *   `sc_last_error()`: per thread, valid until the next failing call on that thread.
 * - Handles (`sc_net`, `sc_solver`) are opaque and reference-counted: every function that
 *   returns one gives the caller a reference that it ends with `sc_net_close` /
 *   `sc_solver_close`. A net handed out by a solver outlives the solver.
 * - Strings are UTF-8 and NUL-terminated. Strings returned by the library are owned by the
 *   handle they came from and stay valid until that handle changes shape or is closed.
 * - Blob and parameter memory: `sc_net_blob` and `sc_net_param` give a pointer to a blob's
 *   float32 values (C order, the shape given). It is the memory forward and backward read
 *   and write until the handle plans its net again (`sc_net_generation` changes: a reshape,
 *   or a blob an inference net is asked to keep), and stays valid while the handle or an
 *   `sc_net_hold` of that generation lives.
 * - Threads: a handle may be used from any thread, but by one at a time; the library does
 *   not lock it. Different handles may be used concurrently. Each call runs its kernels on
 *   `sc_set_threads` threads (default: every core).
 */
#ifndef SWIFTCAFFE_H
#define SWIFTCAFFE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SC_OK = 0,
    /* The net, solver, weights or picture could not be used: a bad file, a shape that does
       not fit, a non-finite loss. The message says which and how to fix it. */
    SC_ERROR = 1,
    /* A name (blob, layer) or index the handle does not have, or a null argument. */
    SC_ERROR_NOT_FOUND = 2,
    /* The call does not apply to this handle (backward on a net built for inference,
       reshaping a solver's net). */
    SC_ERROR_INVALID = 3,
};

enum { SC_TRAIN = 0, SC_TEST = 1 };
enum { SC_DATA = 0, SC_DIFF = 1 };
/* The most axes a blob has. */
enum { SC_MAX_AXES = 8 };

typedef struct sc_net sc_net;
typedef struct sc_solver sc_solver;

/* The library's version, e.g. "0.37". */
const char *sc_version(void);
/* The message of the last failing call on this thread ("" if none). */
const char *sc_last_error(void);
/* Threads for the kernels of later calls (1 or more); 0 means every core. */
int sc_set_threads(int threads);

/* ---- Nets ---------------------------------------------------------------------------- */

/* How a net is built. SC_AS_WRITTEN: every layer as written, every blob with its own memory,
   forward and backward (the Input layers' tops get gradients, as with Caffe's
   force_backward). SC_INFERENCE (SC_TEST only): planned as `swiftcaffe test` plans it, with
   in-place layers folded into the layer before them, the convolution engine's weights
   cached, and blobs taking turns in memory; forward only. Asking `sc_net_blob` for a blob
   the plan did not keep plans the net again keeping it, and runs the last forward again
   from the same inputs (once per blob: later forwards keep it). After writing parameters
   through their pointers, call `sc_net_parameters_changed`. */
enum { SC_AS_WRITTEN = 0, SC_INFERENCE = 1 };

/* Builds the `phase` net of a net file (YAML, Caffe prototxt, ONNX) as `build` says.
   `weights` (nullable) loads parameters by layer name, as `sc_net_load`. `level` and
   `stages` (nullable; stage names separated by '\n') choose layers by their include and
   exclude rules, as Caffe's NetState. */
int sc_net_open(const char *path, const char *weights, int phase, int level, const char *stages, int build, sc_net **net);
/* Adds a reference to `net`. */
void sc_net_retain(sc_net *net);
/* Ends a reference; the net is freed with its last one. */
void sc_net_close(sc_net *net);

/* The net's structure as JSON: {"name": ..., "phase": "train"|"test",
   "layers": [{"name", "type", "bottoms": [...], "tops": [...], "params": count}],
   "blobs": [names, in the order layers make them], "inputs": [the Input layers' tops],
   "outputs": [blobs no layer reads]}. Owned by the net. */
const char *sc_net_describe(sc_net *net);

/* A blob's data (SC_DATA) or gradient (SC_DIFF): its pointer, axis count and shape
   (`shape` has room for SC_MAX_AXES). A null `pointer` asks for the shape alone. */
int sc_net_blob(sc_net *net, const char *name, int which, float **pointer, int *axes, int64_t *shape);
/* The `index`-th parameter blob of layer `layer` (its position in "layers"). */
int sc_net_param(sc_net *net, int layer, int index, int which, float **pointer, int *axes, int64_t *shape);
/* Which net the handle holds now: the count goes up each time the net is planned again (a
   reshape; a blob an inference net is asked to keep). */
int64_t sc_net_generation(sc_net *net);
/* Keeps the memory of the handle's current net alive (every pointer `sc_net_blob` and
   `sc_net_param` gave since the generation began) after the handle moves on to another
   net, until `sc_net_release_hold`: what the Python package ties each numpy view to. */
void *sc_net_hold(sc_net *net);
void sc_net_release_hold(void *hold);

/* Records a new shape for an Input layer's top. `sc_net_reshape` (or the next forward) plans
   the net again with every shape recorded: its other blobs' values are lost, its parameters
   kept, and every blob pointer changes. Until then the blob keeps its old shape. */
int sc_net_reshape_input(sc_net *net, const char *name, int axes, const int64_t *shape);
/* Plans the net with the recorded input shapes (nothing to do when none is recorded). On an
   error (shapes the layers do not accept) the net stays as it was and the shapes recorded. */
int sc_net_reshape(sc_net *net);

/* Runs layers `start` to `end` (inclusive; -1 for the last) forward; `loss` (nullable)
   receives the weighted loss if the net has one, else 0. */
int sc_net_forward(sc_net *net, int start, int end, float *loss);
/* Runs layers `end` down to `start` (inclusive; -1 for the last) backward from the diffs the
   tops hold. The whole net (0, -1) first seeds the losses' diffs with their weights, as
   training does; a partial pass uses the diffs as they are. Parameter gradients are added
   to their diffs. */
int sc_net_backward(sc_net *net, int start, int end);
/* Tells a net built for inference that its parameters were written through their pointers,
   so that the next forward rereads them (a net loading weights itself needs no call). */
int sc_net_parameters_changed(sc_net *net);
/* Sets every parameter's diff to zero. */
int sc_net_clear_param_diffs(sc_net *net);
/* Writes the parameters to `path`: .caffemodel, .safetensors, .h5 (Caffe's HDF5 weights),
   .npy by its extension (safetensors for other names). */
int sc_net_save(sc_net *net, const char *path);
/* Writes them in the format whose extension `format` gives ("h5", "caffemodel", ...),
   whatever `path` is called. */
int sc_net_save_format(sc_net *net, const char *path, const char *format);
/* Loads parameters by layer name from `path` (any format `sc_net_save` writes, known by its
   extension or its first bytes, and ONNX initialisers); layers the file lacks keep theirs, a tensor of the wrong shape is an error. */
int sc_net_load(sc_net *net, const char *path);

/* ---- Solvers ------------------------------------------------------------------------- */

/* A solver from a solver file (a Caffe solver prototxt naming its net, or a YAML net file
   with a `solver:` section). `type` (nullable) overrides its type: "SGD", "Nesterov",
   "AdaGrad", "RMSProp", "AdaDelta", "Adam". Snapshots are written as `weights_extension`
   (nullable: .safetensors for a YAML solver, else .caffemodel). */
int sc_solver_open(const char *path, const char *type, const char *weights_extension, sc_solver **solver);
void sc_solver_close(sc_solver *solver);
/* The train net, and the test nets (0 or 1); each a new reference. Both are built as
   written, and the test net shares the train net's parameters. */
int sc_solver_net(sc_solver *solver, sc_net **net);
int sc_solver_test_net_count(sc_solver *solver);
int sc_solver_test_net(sc_solver *solver, int index, sc_net **net);
/* Runs `iterations` iterations (testing, displaying and snapshotting at the solver's
   intervals). `solve` runs on to max_iter. */
int sc_solver_step(sc_solver *solver, int iterations);
int sc_solver_solve(sc_solver *solver);
/* Applies the gradients the train net holds and counts the iteration. */
int sc_solver_apply_update(sc_solver *solver);
int64_t sc_solver_iter(sc_solver *solver);
int64_t sc_solver_max_iter(sc_solver *solver);
/* Writes <prefix>_iter_<N>.<weights extension> and .solverstate. */
int sc_solver_snapshot(sc_solver *solver);
/* Continues from a .solverstate written by a snapshot. */
int sc_solver_restore(sc_solver *solver, const char *state);
/* Runs the test net over the solver's test_iter batches; `loss` and `accuracy` (nullable)
   receive the means (NaN when the net has none). */
int sc_solver_test(sc_solver *solver, float *loss, float *accuracy);

/* ---- Layers and drawings --------------------------------------------------------------- */

/* The layer types the library knows (custom ones registered in this process included),
   sorted, separated by '\n'. */
const char *sc_layer_types(void);
/* The `phase` net of a net file as a Graphviz DOT graph (what `swiftcaffe draw` writes).
   Free `*dot` with `sc_free`. */
int sc_net_file_dot(const char *path, int phase, char **dot);

/* ---- Pictures ------------------------------------------------------------------------ */

/* Decodes a PNG or JPEG file into height x width x channels float32 values in [0, 1], RGB
   (channels 3) or gray (channels 1, when `color` is 0). Free `*pixels` with `sc_free`. */
int sc_image_load(const char *path, int color, float **pixels, int *height, int *width, int *channels);
void sc_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
