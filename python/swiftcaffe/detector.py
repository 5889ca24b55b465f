"""`caffe.Detector`: a classifying net run over windows of pictures (R-CNN's use of it)."""
import numpy as np

from . import io
from ._net import TEST, Net


class Detector(Net):
    """Classifies windows of pictures (pycaffe's `caffe.Detector`): each window (ymin, xmin,
    ymax, xmax, in pixels) is cut out, warped to the net's input and classified. The picture's
    preparation is given as to `io.Transformer`. `context_pad` widens each window so that
    that many pixels of the warped input, on every side, show what is around the window (the
    part outside the picture filled with the mean). Built for inference: forward only."""

    def __init__(self, model_file, pretrained_file, mean=None, input_scale=None, raw_scale=None, channel_swap=None,
                 context_pad=None):
        Net.__init__(self, model_file, TEST, weights=pretrained_file, inference=True)
        self.input_name = self.inputs[0]
        self.transformer = io.picture_transformer(self.blobs[self.input_name].shape, self.input_name, mean, input_scale,
                                                  raw_scale, channel_swap)
        self.context_pad = int(context_pad or 0)
        self.crop_dims = np.array(self.blobs[self.input_name].shape[2:])

    def _fill(self, channels):
        """The picture-space colour of the mean (what a context border outside the picture shows)."""
        mean = self.transformer.mean.get(self.input_name)
        if mean is None:
            return np.zeros(channels, np.float32)
        values = mean.reshape(mean.shape[0], -1).mean(1)
        swap = self.transformer.channel_swap.get(self.input_name)
        if swap is not None:
            values = values[np.argsort(swap)]
        return values / self.transformer.raw_scale.get(self.input_name, 1.0)

    def crop(self, im, window):
        """The window of `im` (H x W x K), widened for `context_pad`."""
        ymin, xmin, ymax, xmax = [float(v) for v in window]
        if not self.context_pad:
            return im[int(ymin):int(ymax), int(xmin):int(xmax)]
        size = self.crop_dims.astype(float)
        scale = size / (size - 2 * self.context_pad)  # window pixels -> widened pixels
        centre = np.array([(ymin + ymax) / 2, (xmin + xmax) / 2])
        half = np.array([ymax - ymin, xmax - xmin]) * scale / 2
        top_left, bottom_right = np.round(centre - half).astype(int), np.round(centre + half).astype(int)
        canvas = np.empty(tuple(bottom_right - top_left) + (im.shape[2],), np.float32)
        canvas[...] = self._fill(im.shape[2])
        inside_start = np.maximum(top_left, 0)
        inside_end = np.minimum(bottom_right, im.shape[:2])
        if (inside_end > inside_start).all():
            at = inside_start - top_left
            canvas[at[0]:at[0] + inside_end[0] - inside_start[0], at[1]:at[1] + inside_end[1] - inside_start[1]] = \
                im[inside_start[0]:inside_end[0], inside_start[1]:inside_end[1]]
        return canvas

    def detect_windows(self, images_windows):
        """[(picture file, [windows])] -> one {'filename', 'window', 'prediction'} per window,
        in order; the prediction is the net's first output for that window."""
        crops, where = [], []
        for filename, windows in images_windows:
            picture = io.load_image(filename).astype(np.float32)
            for window in windows:
                crops.append(self.transformer.preprocess(self.input_name, self.crop(picture, window)))
                where.append((filename, window))
        if not crops:
            return []
        output = self.forward_all(**{self.input_name: np.array(crops)})[self.outputs[0]]
        return [{"filename": filename, "window": window, "prediction": output[index].reshape(-1)}
                for index, (filename, window) in enumerate(where)]

    def detect_selective_search(self, image_fnames):
        raise NotImplementedError("selective search proposals come from a MATLAB tool pycaffe called out to; "
                                  "make the windows with any proposal method and pass them to detect_windows")
