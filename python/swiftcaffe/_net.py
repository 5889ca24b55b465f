"""Net, Blob and Layer: pycaffe's names over the C API's net handle."""
import ctypes
import json
from collections import OrderedDict

import numpy as np

from ._library import SwiftCaffeError, check, float_pointer, lib, new_shape, text

TRAIN = 0
TEST = 1


class _Handle:
    """One reference to a C net handle, ended when the last Python object using it goes."""

    def __init__(self, pointer):
        self.pointer = pointer

    # The C function is bound when the class is made: at interpreter exit the module's
    # globals may be gone before the last handle is.
    def __del__(self, close=lib.sc_net_close):
        if self.pointer:
            close(self.pointer)
            self.pointer = None


class _Hold:
    """Keeps one generation of a handle's net (its memory) alive: a reshape or a blob kept by
    an inference net moves the handle to a new net, and views of the old one stay valid."""

    def __init__(self, handle):
        self.handle = handle  # the handle too: its close must not come first
        self.generation = lib.sc_net_generation(handle.pointer)
        self.pointer = lib.sc_net_hold(handle.pointer)

    def __del__(self, release=lib.sc_net_release_hold):
        if self.pointer:
            release(self.pointer)
            self.pointer = None


class _Memory:
    """A blob's memory as numpy sees it. Every array made from it keeps its net alive."""

    def __init__(self, address, shape, owner, read_only=False):
        self.__array_interface__ = {"data": (address, read_only), "shape": tuple(shape), "typestr": "<f4", "version": 3}
        self.owner = owner


def _view(net, getter, read_only=False):
    pointer, axes, shape = float_pointer(), ctypes.c_int(), new_shape()
    getter(ctypes.byref(pointer), ctypes.byref(axes), shape)
    dims = tuple(int(shape[i]) for i in range(axes.value))
    address = ctypes.cast(pointer, ctypes.c_void_p).value
    return np.asarray(_Memory(address, dims, net._current_hold(), read_only))


class Blob:
    """A named blob of a net, or a layer's parameter. `data` and `diff` are numpy views of the
    net's own memory (writable, no copy). A view taken before the net is planned again (a
    reshape) keeps the old net's memory alive: it stays valid, but is no longer the net's."""

    def __init__(self, net, name=None, layer=None, index=None):
        self._net = net
        self._name = name
        self._layer = layer
        self._index = index

    def _array(self, which):
        net = self._net
        key = (self._name, self._layer, self._index, which)
        cached = net._views.get(key)
        if cached is not None and cached[0] == lib.sc_net_generation(net._handle.pointer):
            return cached[1]  # the same memory as long as the net is not planned again
        view = self._fresh_array(which)
        net._views[key] = (lib.sc_net_generation(net._handle.pointer), view)
        return view

    def _fresh_array(self, which):
        handle = self._net._handle
        if self._name is not None:
            getter = lambda p, a, s: check(lib.sc_net_blob(handle.pointer, text(self._name), which, p, a, s))
        else:
            getter = lambda p, a, s: check(lib.sc_net_param(handle.pointer, self._layer, self._index, which, p, a, s))
        # An inference net computes with its own copy of the weights (the engine's layout,
        # BatchNorm folded in), made again only when told: a view that could be written at any
        # time would leave it stale without a word. Its parameters are read-only; copy_from
        # loads others, and a net built as written takes writes.
        return _view(self._net, getter, read_only=self._name is None and self._net._inference)

    @property
    def data(self):
        return self._array(0)

    @property
    def diff(self):
        return self._array(1)

    @property
    def shape(self):
        if self._name is None:
            return tuple(self.data.shape)
        axes, dims = ctypes.c_int(), new_shape()
        check(lib.sc_net_blob(self._net._handle.pointer, text(self._name), 0, None, ctypes.byref(axes), dims))
        return tuple(int(dims[i]) for i in range(axes.value))

    @property
    def count(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def _axis(self, index):
        shape = self.shape
        return shape[index] if len(shape) > index else 1

    @property
    def num(self):
        return self._axis(0)

    @property
    def channels(self):
        return self._axis(1)

    @property
    def height(self):
        return self._axis(2)

    @property
    def width(self):
        return self._axis(3)

    def reshape(self, *shape):
        """Gives an input blob a new shape. The net is planned again as soon as the shapes fit
        together (two inputs reshaped one after the other: after the second), at the latest
        by `net.reshape()` or the next forward, which report shapes that do not fit. Only a
        net's inputs can be reshaped: the layers shape the rest."""
        if self._name is None:
            raise SwiftCaffeError("a parameter blob cannot be reshaped: its layer's settings give its shape")
        dims = new_shape()
        if len(shape) > len(dims):
            raise ValueError("a blob has at most %d axes" % len(dims))
        for axis, size in enumerate(shape):
            dims[axis] = int(size)
        pointer = self._net._handle.pointer
        check(lib.sc_net_reshape_input(pointer, text(self._name), len(shape), dims))
        if lib.sc_net_reshape(pointer) == 0:
            self._net._structure_changed()
        else:  # the shapes wait for the other inputs'
            self._net._reshape_pending = True

    def __repr__(self):
        return "<Blob %s %s>" % (self._name or "parameter", "x".join(map(str, self.shape)))


class Layer:
    """A layer of a net: its name, type, and parameter blobs (`blobs`)."""

    def __init__(self, net, index, entry):
        self.name = entry["name"]
        self.type = entry["type"]
        self.blobs = [Blob(net, layer=index, index=i) for i in range(entry["params"])]

    def __repr__(self):
        return "<Layer %s (%s)>" % (self.name, self.type)


class Net:
    """A net built from a net file (YAML, Caffe prototxt or ONNX), as pycaffe's `caffe.Net`:

        Net(network_file, phase, level=0, stages=None, weights=None)
        Net(network_file, weights, phase)          # pycaffe's older form

    Every layer runs as written and every blob keeps its values, so any blob can be read after
    `forward` and `backward`. With `inference=True` (TEST only) the net is planned as
    `swiftcaffe test` plans it: in-place layers folded into the layer before them and the
    convolution engine's weights cached, which is up to twice as fast on big nets; every
    blob can still be read after forward, but backward is refused and the parameters are
    read-only views (`copy_from` loads others).
    """

    def __init__(self, network_file, *args, **kwargs):
        weights, phase = kwargs.pop("weights", None), kwargs.pop("phase", None)
        level, stages = kwargs.pop("level", 0), kwargs.pop("stages", None)
        inference = bool(kwargs.pop("inference", False))
        if kwargs:
            raise TypeError("Net() got unexpected keyword arguments: " + ", ".join(sorted(kwargs)))
        if len(args) == 2:
            weights, phase = args
        elif len(args) == 1:
            phase = args[0]
        elif len(args) > 2:
            raise TypeError("Net(network_file, phase) or Net(network_file, weights, phase)")
        if phase not in (TRAIN, TEST):
            raise ValueError("phase must be caffe.TRAIN or caffe.TEST, not %r" % (phase,))
        stage_text = "\n".join(stages) if stages else None
        pointer = ctypes.c_void_p()
        check(lib.sc_net_open(text(network_file), text(weights), phase, int(level), text(stage_text), 1 if inference else 0,
                              ctypes.byref(pointer)))
        self._inference = inference
        self._adopt(_Handle(pointer))

    @classmethod
    def _from_handle(cls, pointer):
        net = cls.__new__(cls)
        net._inference = False  # a solver's nets are built as written
        net._adopt(_Handle(pointer))
        return net

    def _current_hold(self):
        """The hold of the handle's current net (the one the last pointer came from)."""
        hold = self._hold
        if hold is None or hold.generation != lib.sc_net_generation(self._handle.pointer):
            hold = self._hold = _Hold(self._handle)
        return hold

    def _adopt(self, handle):
        self._handle = handle
        self._hold = None
        self._views = {}  # (blob, layer, index, data or diff) -> (generation, view)
        self._reshape_pending = False
        self._structure_changed()
        self._blobs = OrderedDict((name, Blob(self, name=name)) for name in self._structure["blobs"])

    def _structure_changed(self):
        self._structure = json.loads(lib.sc_net_describe(self._handle.pointer).decode("utf-8"))
        self._layers = [Layer(self, index, entry) for index, entry in enumerate(self._structure["layers"])]

    # ---- structure ----------------------------------------------------------------------

    @property
    def name(self):
        return self._structure["name"]

    @property
    def blobs(self):
        """Every blob by name, in the order the layers make them."""
        return self._blobs

    @property
    def params(self):
        """Each layer with parameters, by name: its parameter blobs (weights, then bias)."""
        return OrderedDict((layer.name, layer.blobs) for layer in self._layers if layer.blobs)

    @property
    def layers(self):
        return list(self._layers)

    @property
    def _layer_names(self):
        return [layer.name for layer in self._layers]

    @property
    def layer_dict(self):
        return OrderedDict((layer.name, layer) for layer in self._layers)

    @property
    def _blob_names(self):
        return list(self._blobs)

    @property
    def inputs(self):
        """The tops of the Input layers: what `forward(**inputs)` takes."""
        return list(self._structure["inputs"])

    @property
    def outputs(self):
        """Blobs no layer reads (the losses, the scores)."""
        return list(self._structure["outputs"])

    @property
    def top_names(self):
        return OrderedDict((entry["name"], list(entry["tops"])) for entry in self._structure["layers"])

    @property
    def bottom_names(self):
        return OrderedDict((entry["name"], list(entry["bottoms"])) for entry in self._structure["layers"])

    # ---- running -------------------------------------------------------------------------

    def _layer_index(self, name, default):
        if name is None:
            return default
        names = self._layer_names
        if name not in names:
            raise KeyError("the net has no layer '%s'" % name)
        return names.index(name)

    def _set(self, values, which, allowed):
        for name, value in values.items():
            if name not in allowed:
                raise KeyError("'%s' is not one of %s" % (name, ", ".join(allowed) or "nothing"))
            target = getattr(self._blobs[name], which)
            value = np.asarray(value, dtype=np.float32)
            if value.shape != target.shape:
                if value.size != target.size:
                    raise ValueError("'%s' is %s, but %s was given" % (name, target.shape, value.shape))
                value = value.reshape(target.shape)
            target[...] = value

    def forward(self, blobs=None, start=None, end=None, **kwargs):
        """Runs layers `start` to `end` (names; the whole net by default) forward after setting
        the inputs given as keywords. Returns the outputs (the tops of `end` when given) and
        the `blobs` asked for, by name, as views of the net's memory."""
        if self._reshape_pending:
            self.reshape()
        self._set(kwargs, "data", self.inputs)
        first = self._layer_index(start, 0)
        last = self._layer_index(end, len(self._layers) - 1)
        check(lib.sc_net_forward(self._handle.pointer, first, last, None))
        names = list(self.top_names[self._layers[last].name]) if end is not None else self.outputs
        names += [name for name in (blobs or []) if name not in names]
        return {name: self._blobs[name].data for name in names}

    def backward(self, diffs=None, start=None, end=None, **kwargs):
        """Runs layers `start` down to `end` (names; the whole net by default) backward after
        setting the outputs' diffs given as keywords. Returns the inputs' diffs (the bottoms'
        of `end` when given) and the `diffs` asked for, by name."""
        self._set(kwargs, "diff", self.outputs)
        first = self._layer_index(start, len(self._layers) - 1)
        last = self._layer_index(end, 0)
        check(lib.sc_net_backward(self._handle.pointer, last, first))
        names = list(self.bottom_names[self._layers[last].name]) if end is not None else self.inputs
        names += [name for name in (diffs or []) if name not in names]
        return {name: self._blobs[name].diff for name in names}

    def forward_all(self, blobs=None, **kwargs):
        """Forward over inputs of any number of samples, in batches of the net's batch size;
        returns the outputs and `blobs` for all of them (copies)."""
        return self._all(blobs, None, kwargs)

    def forward_backward_all(self, blobs=None, diffs=None, **kwargs):
        """`forward_all` and backward for each batch: (outputs, input diffs)."""
        return self._all(blobs, diffs or [], kwargs)

    def _all(self, blobs, diffs, inputs):
        names = list(inputs)
        if not names:
            out = self.forward(blobs=blobs)
            result = {k: v.copy() for k, v in out.items()}
            if diffs is None:
                return result
            back = self.backward(diffs=diffs)
            return result, {k: v.copy() for k, v in back.items()}
        arrays = {name: np.asarray(value, dtype=np.float32) for name, value in inputs.items()}
        total = len(next(iter(arrays.values())))
        batch = self._blobs[names[0]].shape[0]
        outs, backs = {}, {}
        for begin in range(0, total, batch):
            chunk = {}
            for name, array in arrays.items():
                part = array[begin:begin + batch]
                if len(part) < batch:  # pad the last batch; the padding is dropped below
                    part = np.concatenate([part, np.zeros((batch - len(part),) + part.shape[1:], np.float32)])
                chunk[name] = part
            kept = min(batch, total - begin)
            for name, value in self.forward(blobs=blobs, **chunk).items():
                # A scalar (a loss) is one value per batch, not per sample.
                outs.setdefault(name, []).append(value.reshape(1).copy() if value.ndim == 0 else value[:kept].copy())
            if diffs is not None:
                for name, value in self.backward(diffs=diffs).items():
                    backs.setdefault(name, []).append(value[:kept].copy())
        outs = {name: np.concatenate(parts) for name, parts in outs.items()}
        if diffs is None:
            return outs
        return outs, {name: np.concatenate(parts) for name, parts in backs.items()}

    def reshape(self):
        """Plans the net with the input shapes given by `blob.reshape` (Caffe's `net.reshape()`)."""
        check(lib.sc_net_reshape(self._handle.pointer))
        self._reshape_pending = False
        self._structure_changed()

    def clear_param_diffs(self):
        check(lib.sc_net_clear_param_diffs(self._handle.pointer))

    # ---- weights -------------------------------------------------------------------------

    def save(self, filename):
        """Writes the parameters: a .caffemodel, .safetensors or .h5 (Caffe's HDF5 weights) by
        the extension (a name without one is written as safetensors)."""
        check(lib.sc_net_save(self._handle.pointer, text(filename)))

    def copy_from(self, filename):
        """Loads parameters by layer name (.caffemodel, .safetensors, .h5, .onnx); layers the
        file lacks keep theirs."""
        check(lib.sc_net_load(self._handle.pointer, text(filename)))

    def save_hdf5(self, filename):
        """Writes the parameters as Caffe's HDF5 weights (data/<layer>/<index>), whatever the
        file's name."""
        check(lib.sc_net_save_format(self._handle.pointer, text(filename), text("h5")))

    def load_hdf5(self, filename):
        """Loads Caffe's HDF5 weights (as `copy_from` does for an .h5 file)."""
        check(lib.sc_net_load(self._handle.pointer, text(filename)))

    def share_with(self, other):
        raise SwiftCaffeError("share_with is not supported: build both nets from one solver (its test net shares the train net's parameters)")

    def __repr__(self):
        return "<Net %s: %d layers>" % (self.name, len(self._layers))

