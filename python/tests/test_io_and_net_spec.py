"""caffe.io (pictures, the Transformer, Caffe's messages) and caffe.NetSpec."""
import numpy as np
import pytest

import swiftcaffe as caffe
from swiftcaffe import layers as L
from swiftcaffe import params as P

from conftest import png


def test_load_image_gives_rgb_or_gray_in_0_1(tmp_path):
    pixels = np.zeros((3, 4, 3), np.uint8)
    pixels[0, 0] = [255, 0, 0]
    pixels[2, 3] = [0, 0, 51]
    path = str(tmp_path / "p.png")
    png(path, pixels)
    color = caffe.io.load_image(path)
    assert color.shape == (3, 4, 3) and color.dtype == np.float32
    np.testing.assert_allclose(color[0, 0], [1, 0, 0])
    np.testing.assert_allclose(color[2, 3], [0, 0, 0.2])
    gray = caffe.io.load_image(path, color=False)
    assert gray.shape == (3, 4, 1) and 0 < gray[0, 0, 0] < 1
    with pytest.raises(IOError, match="missing.png"):
        caffe.io.load_image(str(tmp_path / "missing.png"))


def test_resize_keeps_constants_and_interpolates_between_pixels():
    constant = np.full((5, 7, 3), 0.3, np.float32)
    np.testing.assert_allclose(caffe.io.resize_image(constant, (11, 2)), 0.3, rtol=1e-6)
    row = np.array([[[0.0], [1.0]]], np.float32)  # 1 x 2: enlarged to 1 x 4
    np.testing.assert_allclose(caffe.io.resize_image(row, (1, 4))[0, :, 0], [0, 0.25, 0.75, 1])
    np.testing.assert_array_equal(caffe.io.resize_image(row, (1, 4), interp_order=0)[0, :, 0], [0, 0, 1, 1])


def test_transformer_round_trip_and_order():
    transformer = caffe.io.Transformer({"data": (1, 3, 4, 5)})
    transformer.set_transpose("data", (2, 0, 1))
    transformer.set_channel_swap("data", (2, 1, 0))
    transformer.set_raw_scale("data", 255)
    transformer.set_mean("data", np.array([10, 20, 30]))
    transformer.set_input_scale("data", 0.5)
    picture = np.random.RandomState(0).rand(4, 5, 3).astype(np.float32)
    prepared = transformer.preprocess("data", picture)
    assert prepared.shape == (3, 4, 5)
    # Channel 0 of the net's input is the picture's blue (its channel 2), scaled then centred.
    np.testing.assert_allclose(prepared[0], (picture[:, :, 2] * 255 - 10) * 0.5, rtol=1e-5)
    np.testing.assert_allclose(transformer.deprocess("data", prepared), picture, rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="not one of the net inputs"):
        transformer.preprocess("label", picture)


def test_messages_round_trip_through_the_wire_format():
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    blob = caffe.io.array_to_blobproto(array)
    again = caffe.proto.caffe_pb2.BlobProto.FromString(blob.SerializeToString())
    np.testing.assert_array_equal(caffe.io.blobproto_to_array(again), array)
    legacy = caffe.proto.caffe_pb2.BlobProto()
    legacy.data.extend([1.0] * 6)
    legacy.num, legacy.channels, legacy.height, legacy.width = 1, 1, 2, 3
    assert caffe.io.blobproto_to_array(legacy).shape == (1, 1, 2, 3)
    image = (np.arange(12) * 20).astype(np.uint8).reshape(3, 2, 2)
    datum = caffe.io.array_to_datum(image, label=4)
    decoded = caffe.proto.caffe_pb2.Datum.FromString(datum.SerializeToString())
    assert decoded.label == 4
    np.testing.assert_array_equal(caffe.io.datum_to_array(decoded), image)
    floats = caffe.io.array_to_datum(image.astype(np.float32) / 7)
    np.testing.assert_allclose(caffe.io.datum_to_array(caffe.proto.caffe_pb2.Datum.FromString(floats.SerializeToString())),
                               image / 7.0, rtol=1e-6)


def lenet(batch):
    n = caffe.NetSpec()
    n.data, n.label = L.DummyData(shape=[dict(dim=[batch, 1, 28, 28]), dict(dim=[batch, 1, 1, 1])], ntop=2)
    n.conv1 = L.Convolution(n.data, kernel_size=5, num_output=20, weight_filler=dict(type="xavier"))
    n.pool1 = L.Pooling(n.conv1, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    n.ip1 = L.InnerProduct(n.pool1, num_output=50, weight_filler=dict(type="xavier"))
    n.relu1 = L.ReLU(n.ip1, in_place=True)
    n.ip2 = L.InnerProduct(n.relu1, num_output=10, weight_filler=dict(type="xavier"))
    n.loss = L.SoftmaxWithLoss(n.ip2, n.label)
    return n.to_proto()


def test_net_spec_writes_a_net_that_loads(write):
    proto = lenet(3)
    text = str(proto)
    assert 'pool: MAX' in text and 'type: "xavier"' in text
    relu = proto.layer[4]
    assert relu.bottom == relu.top == ["ip1"]
    net = caffe.Net(write(text, "lenet.prototxt"), caffe.TRAIN)
    assert net._layer_names == ["data", "conv1", "pool1", "ip1", "relu1", "ip2", "loss"]
    assert net.blobs["conv1"].data.shape == (3, 20, 24, 24) and net.params["ip1"][0].data.shape == (50, 2880)
    assert np.isfinite(net.forward()["loss"])
    with pytest.raises(TypeError, match="Silence input 0 is not a Top"):
        L.Silence(L.DummyData(ntop=2), ntop=0)


def test_draw_makes_the_graph(write):
    graph = caffe.draw.get_dot_graph(lenet(2), "TB")
    assert graph.startswith("digraph") and "rankdir=TB" in graph and "conv1" in graph


def test_coord_map_crops_an_upsampled_score_to_the_input(write):
    from swiftcaffe.coord_map import coord_map_from_to, crop
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 20, 20]))
    n.conv = L.Convolution(n.data, num_output=2, kernel_size=3, pad=5, weight_filler=dict(type="gaussian"))
    n.pool = L.Pooling(n.conv, pool=P.Pooling.MAX, kernel_size=2, stride=2)
    n.up = L.Deconvolution(n.pool, num_output=2, kernel_size=4, stride=2, weight_filler=dict(type="gaussian"))
    # conv: x = y - 4; pool: x = 2 y + 0.5; deconv: x = (y - 1.5) / 2, so data = up - 5.
    assert coord_map_from_to(n.up, n.data) == (1, 1, -5)
    n.score = crop(n.up, n.data)
    text = str(n.to_proto())
    assert "offset: 5" in text and "axis: 2" in text
    net = caffe.Net(write(text, "fcn.prototxt"), caffe.TEST)
    assert net.blobs["up"].shape == (1, 2, 30, 30) and net.blobs["score"].shape == (1, 2, 20, 20)
    net.forward(data=np.random.RandomState(0).rand(1, 1, 20, 20))
    np.testing.assert_array_equal(net.blobs["score"].data, net.blobs["up"].data[:, :, 5:25, 5:25])
    n.flat = L.InnerProduct(n.up, num_output=3)
    with pytest.raises(RuntimeError, match="InnerProduct"):
        coord_map_from_to(n.flat, n.data)


COLOR_NET = """
name: tiny
layers:
  - {name: input, type: Input, top: data, shape: [1, 3, 8, 8]}
  - {name: conv, type: Convolution, bottom: data, top: conv, num_output: 4, kernel_size: 3, weight_filler: gaussian, bias_filler: gaussian}
  - {name: fc, type: InnerProduct, bottom: conv, top: fc, num_output: 3, weight_filler: gaussian}
  - {name: prob, type: Softmax, bottom: fc, top: prob}
"""


def test_detector_classifies_each_window_as_the_net_does(write, tmp_path):
    path = write(COLOR_NET, "tiny.yaml")
    weights = str(tmp_path / "tiny.safetensors")
    caffe.Net(path, caffe.TEST).save(weights)
    rng = np.random.RandomState(5)
    pixels = (rng.rand(20, 30, 3) * 255).astype(np.uint8)
    picture = str(tmp_path / "scene.png")
    png(picture, pixels)
    windows = [(0, 0, 8, 8), (4, 10, 20, 30)]
    detector = caffe.Detector(path, weights, mean=np.array([100.0, 110.0, 120.0]), raw_scale=255, channel_swap=(2, 1, 0))
    detections = detector.detect_windows([(picture, windows)])
    assert [d["window"] for d in detections] == windows and all(d["filename"] == picture for d in detections)
    net = caffe.Net(path, caffe.TEST, weights=weights)
    image = caffe.io.load_image(picture)
    for detection, (y0, x0, y1, x1) in zip(detections, windows):
        net.blobs["data"].data[0] = detector.transformer.preprocess("data", image[y0:y1, x0:x1])
        np.testing.assert_allclose(detection["prediction"], net.forward()["prob"][0], rtol=1e-5, atol=1e-6)
    # A context border: the widened window reaches past the picture, which the mean fills.
    padded = caffe.Detector(path, weights, mean=np.array([100.0, 110.0, 120.0]), raw_scale=255, channel_swap=(2, 1, 0),
                            context_pad=2)
    crop = padded.crop(image, (0, 0, 8, 8))
    # 8 pixels widened 8 / (8 - 2 * 2) = 2 times about their centre: rows and columns -4 to 12.
    assert crop.shape == (16, 16, 3)
    np.testing.assert_array_equal(crop[4:16, 4:16], image[0:12, 0:12])
    np.testing.assert_allclose(crop[0, 0], np.array([120.0, 110.0, 100.0]) / 255, rtol=1e-6)  # RGB of the BGR mean


def test_classifier_predicts_the_centre_crop_and_the_mean_of_ten(write, tmp_path):
    path = write(COLOR_NET, "tiny.yaml")
    weights = str(tmp_path / "tiny.safetensors")
    caffe.Net(path, caffe.TEST).save(weights)
    picture = np.random.RandomState(6).rand(12, 12, 3).astype(np.float32)
    classifier = caffe.Classifier(path, weights, image_dims=(10, 10), raw_scale=255, mean=np.array([90.0, 100.0, 110.0]))
    net = caffe.Net(path, caffe.TEST, weights=weights)
    resized = caffe.io.resize_image(picture, (10, 10))

    def probabilities(crop):
        net.blobs["data"].data[0] = classifier.transformer.preprocess("data", crop)
        return net.forward()["prob"][0].copy()

    centre = classifier.predict([picture], oversample=False)
    np.testing.assert_allclose(centre[0], probabilities(resized[1:9, 1:9]), rtol=1e-5, atol=1e-6)
    ten = classifier.predict([picture])
    crops = caffe.io.oversample(resized[np.newaxis], (8, 8))
    assert crops.shape == (10, 8, 8, 3)
    np.testing.assert_allclose(ten[0], np.mean([probabilities(c) for c in crops], axis=0), rtol=1e-5, atol=1e-6)
