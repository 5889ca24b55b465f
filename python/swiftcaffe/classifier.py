"""`caffe.Classifier`: a net that takes pictures and gives class probabilities."""
import numpy as np

from . import io
from ._net import TEST, Net


class Classifier(Net):
    """A deploy net for pictures (pycaffe's `caffe.Classifier`). The picture's preparation is
    given as to `io.Transformer`: `mean` (per channel or a K x H x W image), `input_scale`,
    `raw_scale`, `channel_swap`; `image_dims` is the size pictures are resized to before
    cropping to the net's input (the input's own size by default)."""

    def __init__(self, model_file, pretrained_file, image_dims=None, mean=None, input_scale=None, raw_scale=None,
                 channel_swap=None):
        Net.__init__(self, model_file, TEST, weights=pretrained_file)
        self.input_name = self.inputs[0]
        self.transformer = io.picture_transformer(self.blobs[self.input_name].shape, self.input_name, mean, input_scale,
                                                  raw_scale, channel_swap)
        self.crop_dims = np.array(self.blobs[self.input_name].data.shape[2:])
        self.image_dims = np.array(image_dims) if image_dims is not None else self.crop_dims

    def predict(self, inputs, oversample=True):
        """Probabilities of each class for each picture (H x W x K arrays): the mean over ten
        crops when `oversample`, else of the centre crop."""
        resized = np.zeros((len(inputs),) + tuple(self.image_dims) + (inputs[0].shape[2],), dtype=np.float32)
        for index, picture in enumerate(inputs):
            resized[index] = io.resize_image(picture, self.image_dims)
        if oversample:
            crops = io.oversample(resized, self.crop_dims)
        else:
            top = ((self.image_dims - self.crop_dims) / 2.0).astype(int)
            crops = resized[:, top[0]:top[0] + self.crop_dims[0], top[1]:top[1] + self.crop_dims[1], :]
        batch = np.array([self.transformer.preprocess(self.input_name, crop) for crop in crops])
        output = self.forward_all(**{self.input_name: batch})[self.outputs[0]]
        predictions = output.reshape(len(output), -1)
        if oversample:
            predictions = predictions.reshape(len(predictions) // 10, 10, -1).mean(1)
        return predictions
