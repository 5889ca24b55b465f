"""Writing nets from Python, as pycaffe's `caffe.NetSpec`, `caffe.layers` and `caffe.params`:

    n = caffe.NetSpec()
    n.data, n.label = L.DummyData(shape=[dict(dim=[64, 1, 28, 28]), dict(dim=[64])], ntop=2)
    n.conv1 = L.Convolution(n.data, kernel_size=5, num_output=20, weight_filler=dict(type='xavier'))
    n.pool1 = L.Pooling(n.conv1, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    n.loss = L.SoftmaxWithLoss(n.pool1, n.label)
    open('net.prototxt', 'w').write(str(n.to_proto()))

A layer's keyword arguments go into its `<type>_param` (`convolution_param` for a
Convolution), except the layer's own fields (`param`, `include`, `loss_weight`, any
`*_param`, ...). `ntop` sets the number of tops, `in_place=True` writes the top over the
bottom. Unnamed tops and layers are named `<Type><n>`.
"""
import re
from collections import OrderedDict

from .proto import caffe_pb2

# Fields of a layer itself, not of its `<type>_param`.
_LAYER_FIELDS = {"name", "type", "bottom", "top", "phase", "loss_weight", "param", "blobs", "propagate_down", "include",
                 "exclude", "transform_param", "loss_param"}
# Types whose parameter message is not named after them.
_PARAM_NAMES = {"Deconvolution": "convolution", "SoftmaxWithLoss": "softmax", "ReLU": "relu", "PReLU": "prelu",
                "ELU": "elu", "LRN": "lrn", "HDF5Data": "hdf5_data", "HDF5Output": "hdf5_output", "ArgMax": "argmax",
                "TanH": "tanh", "SPP": "spp"}


def _param_name(layer_type):
    name = _PARAM_NAMES.get(layer_type)
    if name is None:
        name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", layer_type).lower()
    return name + "_param"


def _assign(message, name, value):
    """Sets field `name` of `message` from a Python value: a dict is a nested message, a list
    a repeated field."""
    if isinstance(value, (list, tuple)):
        setattr(message, name, [_convert(item) for item in value])
    else:
        setattr(message, name, _convert(value))


def _convert(value):
    if isinstance(value, dict):
        nested = caffe_pb2.Parameter()
        for key, item in value.items():
            _assign(nested, key, item)
        return nested
    return value


class Top:
    """One top of a layer call (`Function`), to pass as another layer's bottom."""

    def __init__(self, fn, n):
        self.fn, self.n = fn, n

    def to_proto(self):
        """The net that ends here, with every layer it needs."""
        return to_proto(self)


class Function:
    """One layer call: its type, bottoms (`Top`s) and settings, and `ntop` tops."""

    def __init__(self, type_name, inputs, params):
        self.type_name = type_name
        for index, bottom in enumerate(inputs):
            if not isinstance(bottom, Top):
                raise TypeError("%s input %d is not a Top (type is %s)" % (type_name, index, type(bottom)))
        self.inputs = inputs
        self.params = dict(params)
        self.ntop = self.params.pop("ntop", 1)
        self.in_place = self.params.pop("in_place", False)
        if self.in_place and len(inputs) != 1:
            raise ValueError("%s: in_place takes exactly one bottom" % type_name)
        self.tops = tuple(Top(self, n) for n in range(self.ntop))

    def _name(self, names, autonames):
        if self not in names:
            autonames[self.type_name] += 1
            names[self] = self.type_name + str(autonames[self.type_name])
        return names[self]

    def _top_name(self, top, names, autonames):
        if self.in_place:  # the top is the bottom, whatever it was assigned to
            return self.inputs[0].fn._top_name(self.inputs[0], names, autonames)
        if top not in names:
            autonames[top.fn.type_name] += 1
            names[top] = top.fn.type_name + str(autonames[top.fn.type_name])
        return names[top]

    def _to_proto(self, layers, names, autonames):
        if self in layers:
            return
        bottoms = []
        for bottom in self.inputs:
            bottom.fn._to_proto(layers, names, autonames)
            bottoms.append(bottom.fn._top_name(bottom, names, autonames))
        layer = caffe_pb2.LayerParameter()
        layer.name = self._name(names, autonames)
        layer.type = self.type_name
        layer.bottom.extend(bottoms)
        if self.in_place:
            layer.top.extend(bottoms)
        else:
            layer.top.extend(self._top_name(top, names, autonames) for top in self.tops)
        for key, value in self.params.items():
            if key in _LAYER_FIELDS or key.endswith("_param"):
                _assign(layer, key, value)
            else:
                param_name = _param_name(self.type_name)
                if param_name not in layer._values:
                    setattr(layer, param_name, caffe_pb2.Parameter())
                _assign(getattr(layer, param_name), key, value)
        layers[self] = layer


def to_proto(*tops):
    """The NetParameter of every layer that `tops` need, in the order they run."""
    layers = OrderedDict()
    autonames = _Counter()
    names = {}
    for top in tops:
        top.fn._to_proto(layers, names, autonames)
    net = caffe_pb2.NetParameter()
    net.layer.extend(layers.values())
    return net


class _Counter(dict):
    def __missing__(self, key):
        return 0


class NetSpec:
    """Named tops, assigned as attributes (`n.conv1 = L.Convolution(...)`); `to_proto()` names
    each layer and top after the attribute it was assigned to."""

    def __init__(self):
        object.__setattr__(self, "tops", OrderedDict())

    def __setattr__(self, name, value):
        self.tops[name] = value

    def __getattr__(self, name):
        try:
            return self.tops[name]
        except KeyError:
            raise AttributeError(name)

    def __setitem__(self, key, value):
        self.__setattr__(key, value)

    def __getitem__(self, item):
        return self.__getattr__(item)

    def __delitem__(self, name):
        del self.tops[name]

    def keys(self):
        return list(self.tops.keys())

    def vals(self):
        return list(self.tops.values())

    def to_proto(self):
        names = {}
        autonames = _Counter()
        layers = OrderedDict()
        for name, top in self.tops.items():
            if isinstance(top, Function):  # a layer without tops (Silence)
                names[top] = name
                continue
            names[top] = name
            if top.fn not in names:
                names[top.fn] = name
        for top in self.tops.values():
            function = top if isinstance(top, Function) else top.fn
            function._to_proto(layers, names, autonames)
        net = caffe_pb2.NetParameter()
        net.layer.extend(layers.values())
        return net


class Layers:
    """`L.Convolution(bottom, ...)` makes a layer call of that type; one top is returned as a
    `Top`, several as a tuple, none as the `Function` itself."""

    def __getattr__(self, name):
        def layer(*args, **kwargs):
            fn = Function(name, args, kwargs)
            if fn.ntop == 0:
                return fn
            if fn.ntop == 1:
                return fn.tops[0]
            return fn.tops
        return layer


class Parameters:
    """`P.Pooling.MAX` is the enum value MAX, printed bare in the prototxt."""

    def __getattr__(self, name):
        class EnumValues:
            def __getattr__(self, value):
                return caffe_pb2.Enum(value)
        return EnumValues()


layers = Layers()
params = Parameters()
