"""Pictures in and out of a net's layout, as pycaffe's `caffe.io`: `load_image`,
`resize_image`, `oversample`, the `Transformer` that prepares pictures for a net's input,
and the conversions between arrays and Caffe's BlobProto and Datum messages."""
import ctypes

import numpy as np

from ._library import check, float_pointer, lib, text
from .proto import caffe_pb2


# ---- pictures ----------------------------------------------------------------------------

def load_image(filename, color=True):
    """A PNG or JPEG as float32 height x width x channels in [0, 1]: RGB (3 channels) when
    `color`, else gray (1 channel). Decoded by SwiftCaffe's own readers (libpng, libjpeg-turbo)."""
    pixels, height, width, channels = float_pointer(), ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    check(lib.sc_image_load(text(filename), 1 if color else 0, ctypes.byref(pixels), ctypes.byref(height),
                            ctypes.byref(width), ctypes.byref(channels)), kind=IOError)
    try:
        count = height.value * width.value * channels.value
        values = np.ctypeslib.as_array(pixels, shape=(count,)).copy()
    finally:
        lib.sc_free(pixels)
    return values.reshape(height.value, width.value, channels.value)


def resize_image(im, new_dims, interp_order=1):
    """`im` (height x width x channels) resized to `new_dims` (height, width): bilinear for
    `interp_order` 1, nearest neighbour for 0. Pixel centres are aligned, as in image
    libraries (a 2x enlargement puts each source pixel at the centre of a 2x2 block)."""
    im = np.asarray(im, dtype=np.float32)
    height, width = int(new_dims[0]), int(new_dims[1])
    if im.shape[0] == height and im.shape[1] == width:
        return im.copy()
    rows = (np.arange(height) + 0.5) * im.shape[0] / height - 0.5
    cols = (np.arange(width) + 0.5) * im.shape[1] / width - 0.5
    if interp_order == 0:
        r = np.clip(np.floor(rows + 0.5).astype(int), 0, im.shape[0] - 1)
        c = np.clip(np.floor(cols + 0.5).astype(int), 0, im.shape[1] - 1)
        return im[r][:, c]
    rows, cols = np.clip(rows, 0, im.shape[0] - 1), np.clip(cols, 0, im.shape[1] - 1)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    r1, c1 = np.minimum(r0 + 1, im.shape[0] - 1), np.minimum(c0 + 1, im.shape[1] - 1)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    if im.ndim == 3:
        fr, fc = fr[..., None], fc[..., None]
    top = im[r0][:, c0] * (1 - fc) + im[r0][:, c1] * fc
    bottom = im[r1][:, c0] * (1 - fc) + im[r1][:, c1] * fc
    return (top * (1 - fr) + bottom * fr).astype(np.float32)


def oversample(images, crop_dims):
    """Ten crops of each picture (N x H x W x K) of `crop_dims`: the four corners and the
    centre, and the same mirrored left to right. Returns (10 N) x h x w x K."""
    images = np.asarray(images)
    height, width = images.shape[1:3]
    crop_h, crop_w = int(crop_dims[0]), int(crop_dims[1])
    starts = [(0, 0), (0, width - crop_w), (height - crop_h, 0), (height - crop_h, width - crop_w),
              ((height - crop_h) // 2, (width - crop_w) // 2)]
    crops = []
    for image in images:
        five = [image[r:r + crop_h, c:c + crop_w] for r, c in starts]
        crops.extend(five + [crop[:, ::-1] for crop in five])
    return np.array(crops)


class Transformer:
    """Turns pictures (H x W x K, values in [0, 1], RGB, as `load_image` gives them) into a
    net input's layout and back. `inputs` maps an input's name to its shape (N, K, H, W).

    `preprocess` does, in this order: resize to the input's H x W, `set_transpose` (to K x H x W),
    `set_channel_swap` (RGB to BGR), `set_raw_scale` (e.g. 255 for nets trained on 0-255),
    subtract `set_mean`, multiply by `set_input_scale`. `deprocess` undoes them."""

    def __init__(self, inputs):
        self.inputs = dict(inputs)
        self.transpose, self.channel_swap, self.raw_scale, self.mean, self.input_scale = {}, {}, {}, {}, {}

    def _check(self, name):
        if name not in self.inputs:
            raise Exception("%s is not one of the net inputs: %s" % (name, ", ".join(self.inputs)))

    def set_transpose(self, in_, order):
        self._check(in_)
        if len(order) != len(self.inputs[in_]) - 1:
            raise Exception("Transpose order needs to have the same number of dimensions as the input.")
        self.transpose[in_] = order

    def set_channel_swap(self, in_, order):
        self._check(in_)
        if len(order) != self.inputs[in_][1]:
            raise Exception("Channel swap needs to have the same number of dimensions as the input channels.")
        self.channel_swap[in_] = order

    def set_raw_scale(self, in_, scale):
        self._check(in_)
        self.raw_scale[in_] = scale

    def set_mean(self, in_, mean):
        """`mean`: one value per channel (K), or a whole mean image (K x H x W)."""
        self._check(in_)
        mean = np.asarray(mean, dtype=np.float32)
        shape = self.inputs[in_]
        if mean.ndim == 1:
            if mean.shape[0] != shape[1]:
                raise ValueError("Mean channels incompatible with input.")
            mean = mean[:, np.newaxis, np.newaxis]
        elif mean.shape[0] != shape[1] or mean.shape[1:] != tuple(shape[2:]):
            if mean.shape[0] != shape[1]:
                raise ValueError("Mean channels incompatible with input.")
            mean = resize_image(mean.transpose(1, 2, 0), shape[2:]).transpose(2, 0, 1)
        self.mean[in_] = mean

    def set_input_scale(self, in_, scale):
        self._check(in_)
        self.input_scale[in_] = scale

    def preprocess(self, in_, data):
        self._check(in_)
        values = np.asarray(data, dtype=np.float32)
        size = tuple(self.inputs[in_][2:])
        if values.shape[:2] != size:
            values = resize_image(values, size)
        if in_ in self.transpose:
            values = values.transpose(self.transpose[in_])
        if in_ in self.channel_swap:
            values = values[list(self.channel_swap[in_]), :, :]
        if in_ in self.raw_scale:
            values = values * self.raw_scale[in_]
        if in_ in self.mean:
            values = values - self.mean[in_]
        if in_ in self.input_scale:
            values = values * self.input_scale[in_]
        return np.ascontiguousarray(values, dtype=np.float32)

    def deprocess(self, in_, data):
        self._check(in_)
        values = np.array(data, dtype=np.float32).squeeze()
        if in_ in self.input_scale:
            values = values / self.input_scale[in_]
        if in_ in self.mean:
            values = values + self.mean[in_]
        if in_ in self.raw_scale:
            values = values / self.raw_scale[in_]
        if in_ in self.channel_swap:
            values = values[np.argsort(self.channel_swap[in_]), :, :]
        if in_ in self.transpose:
            values = values.transpose(np.argsort(self.transpose[in_]))
        return values


def picture_transformer(shape, name, mean=None, input_scale=None, raw_scale=None, channel_swap=None):
    """A Transformer for pictures (H x W x K) into the input `name` of `shape`, set as
    `Classifier` and `Detector` take the settings (None leaves a step out)."""
    transformer = Transformer({name: shape})
    transformer.set_transpose(name, (2, 0, 1))
    for setting, value in ((transformer.set_mean, mean), (transformer.set_input_scale, input_scale),
                           (transformer.set_raw_scale, raw_scale), (transformer.set_channel_swap, channel_swap)):
        if value is not None:
            setting(name, value)
    return transformer


# ---- Caffe's messages ----------------------------------------------------------------------

def blobproto_to_array(blob, return_diff=False):
    """A BlobProto's data (or diff) as an array of its shape: the old num/channels/height/width
    when set, else `shape.dim`. Values that do not fill the shape raise ValueError."""
    values = np.array(blob.diff if return_diff else blob.data, dtype=np.float32)
    if any(blob.HasField(axis) for axis in ("num", "channels", "height", "width")):
        return values.reshape(blob.num, blob.channels, blob.height, blob.width)
    return values.reshape(list(blob.shape.dim))


def array_to_blobproto(arr, diff=None):
    """An array (and its diff) as a BlobProto with `shape.dim`."""
    blob = caffe_pb2.BlobProto()
    blob.shape.dim.extend(int(d) for d in np.shape(arr))
    blob.data.extend(float(v) for v in np.asarray(arr, dtype=np.float32).flat)
    if diff is not None:
        blob.diff.extend(float(v) for v in np.asarray(diff, dtype=np.float32).flat)
    return blob


def arraylist_to_blobprotovector_str(arraylist):
    vector = caffe_pb2.BlobProtoVector()
    vector.blobs.extend(array_to_blobproto(arr) for arr in arraylist)
    return vector.SerializeToString()


def blobprotovector_str_to_arraylist(text_bytes):
    return [blobproto_to_array(blob) for blob in caffe_pb2.BlobProtoVector.FromString(text_bytes).blobs]


def array_to_datum(arr, label=None):
    """A channels x height x width array as a Datum: bytes for uint8, float_data otherwise."""
    arr = np.asarray(arr)
    if arr.ndim != 3:
        raise ValueError("Incorrect array shape.")
    datum = caffe_pb2.Datum()
    datum.channels, datum.height, datum.width = arr.shape
    if arr.dtype == np.uint8:
        datum.data = arr.tobytes()
    else:
        datum.float_data.extend(float(v) for v in arr.astype(np.float32).flat)
    if label is not None:
        datum.label = int(label)
    return datum


def datum_to_array(datum):
    """A Datum's values as channels x height x width: uint8 from `data`, else float."""
    shape = (datum.channels, datum.height, datum.width)
    if datum.HasField("data") and len(datum.data):
        return np.frombuffer(datum.data, dtype=np.uint8).reshape(shape)
    return np.array(datum.float_data, dtype=np.float32).reshape(shape)
