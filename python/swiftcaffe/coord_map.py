"""Where a top's pixels lie in another top, through the layers between them, as pycaffe's
`caffe.coord_map` finds it for NetSpec nets (FCN's skip connections): `coord_map_from_to`
gives (axis, a, b) with  position in `top_to` = a * position in `top_from` + b  along every
spatial axis after `axis`, and `crop` makes the Crop layer that aligns one top with another.

Each layer maps a position y of its top to the centre of what it reads in its bottom:
- Convolution and Pooling (kernel k, stride s, pad p, dilation d): x = s y + (d (k - 1) / 2 - p);
- Deconvolution inverts that: x = (y - (d (k - 1) / 2 - p)) / s;
- Crop (offsets o): x = y + o;
- elementwise and normalising layers keep positions. Any other layer (InnerProduct, ...)
  does not connect positions, and mapping through it raises RuntimeError.
Lists of kernel sizes, strides or pads give a and b per spatial axis (numpy arrays)."""
import numpy as np

from .net_spec import Top
from .net_spec import layers as L

# Layers whose top pixel y is their bottoms' pixel y.
_POSITION_KEEPING = {"AbsVal", "BatchNorm", "Bias", "BNLL", "Clip", "Concat", "Dropout", "Eltwise", "ELU", "Exp", "Log",
                     "LRN", "MVN", "Power", "PReLU", "ReLU", "Scale", "Sigmoid", "Softmax", "Split", "Swish", "TanH",
                     "Threshold", "Flip"}
_SPATIAL = {"Convolution", "Pooling", "Deconvolution"}


def _setting(params, name, default):
    value = params.get(name, default)
    if isinstance(value, (list, tuple)):
        return np.array(value, dtype=float) if len(value) > 1 else float(value[0])
    return float(value)


def _layer_map(fn):
    """(axis, a, b) of one layer: its top's positions in its bottom's."""
    kind = fn.type_name
    if kind in _POSITION_KEEPING:
        return None, 1, 0
    if kind in _SPATIAL:
        params = fn.params
        if kind == "Pooling" and params.get("global_pooling"):
            raise RuntimeError("global pooling does not keep positions: its top has one pixel")
        kernel = _setting(params, "kernel_size", 1)
        stride = _setting(params, "stride", 1)
        pad = _setting(params, "pad", 0)
        dilation = _setting(params, "dilation", 1)
        centre = dilation * (kernel - 1) / 2.0 - pad
        if kind == "Deconvolution":
            return 1, 1.0 / stride, -centre / stride
        return 1, stride, centre
    if kind == "Crop":
        axis = int(fn.params.get("axis", 2))
        offset = fn.params.get("offset", 0)
        offset = np.array(offset, dtype=float) if isinstance(offset, (list, tuple)) and len(offset) > 1 else \
            float(offset[0] if isinstance(offset, (list, tuple)) else offset)
        return axis - 1, 1, offset
    raise RuntimeError("%s does not keep positions: a top after it is not spatially connected to one before it" % kind)


def _compose(outer, inner):
    """`outer` maps a top into a middle blob, `inner` the middle into a bottom: top into bottom."""
    (axis1, a1, b1), (axis2, a2, b2) = outer, inner
    if axis1 is not None and axis2 is not None and axis1 != axis2:
        raise AssertionError("the layers map different axes (%d and %d)" % (axis1, axis2))
    return (axis1 if axis1 is not None else axis2), a2 * a1, a2 * b1 + b2


def _sources(top):
    """The bottoms a top's positions come from."""
    fn = top.fn
    if fn.type_name == "Crop":
        return [fn.inputs[0]]
    if fn.type_name in _SPATIAL and len(fn.inputs) == len(fn.tops) > 1:
        return [fn.inputs[top.n]]  # each bottom makes the top of its index
    return list(fn.inputs)


def _maps_to_ancestors(top):
    """Every top `top` comes from (itself included), with its map into each."""
    found = {top: (None, 1, 0)}
    frontier = [top]
    while frontier:
        current = frontier.pop()
        if not current.fn.inputs:
            continue
        try:
            step = _layer_map(current.fn)
        except RuntimeError:
            continue
        for source in _sources(current):
            if source not in found:
                found[source] = _compose(found[current], step)
                frontier.append(source)
    return found


def coord_map_from_to(top_from, top_to):
    """(axis, a, b) such that position in `top_to` = a * position in `top_from` + b, through
    the layers between them (one may come from the other, or both from a common top)."""
    for top in (top_from, top_to):
        if not isinstance(top, Top):
            raise TypeError("coord_map_from_to takes tops of a NetSpec, not %s" % type(top))
    from_maps, to_maps = _maps_to_ancestors(top_from), _maps_to_ancestors(top_to)
    common = [top for top in from_maps if top in to_maps]
    if not common:
        # Say which layer broke the chain, as the caller most likely wants to know.
        current = top_from
        while current.fn.inputs:
            _layer_map(current.fn)
            current = _sources(current)[0]
        raise RuntimeError("the tops do not come from a common top through position-keeping layers")
    axis_f, a_f, b_f = from_maps[common[0]]
    axis_t, a_t, b_t = to_maps[common[0]]
    if axis_f is not None and axis_t is not None and axis_f != axis_t:
        raise AssertionError("the tops map different axes (%d and %d)" % (axis_f, axis_t))
    # common = a_f y + b_f = a_t x + b_t  ->  x = (a_f / a_t) y + (b_f - b_t) / a_t
    axis = axis_f if axis_f is not None else axis_t
    return axis, a_f / a_t, (b_f - b_t) / a_t


def crop(top_from, top_to):
    """A Crop layer that cuts `top_from` to `top_to`'s positions: they must be at the same
    scale (AssertionError otherwise) and `top_from` must cover `top_to` (offsets >= 0)."""
    axis, a, b = coord_map_from_to(top_from, top_to)
    assert np.all(np.asarray(a) == 1), "the tops are at different scales (a = %s): a crop cannot align them" % (a,)
    assert np.all(np.asarray(b) <= 0), "'top_from' does not cover 'top_to' (b = %s): the offsets would be negative" % (b,)
    offsets = [int(v) for v in np.atleast_1d(-np.round(b))]
    return L.Crop(top_from, top_to, ntop=1, axis=axis + 1, offset=offsets if len(offsets) > 1 else offsets[0])
