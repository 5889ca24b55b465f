"""A notebook's session, as pycaffe users had them: load LeNet, look at a filter, change it,
classify a Fashion-MNIST picture by hand, and get what `swiftcaffe classify` says of the
same picture with the same weights."""
import json
import os

import numpy as np

import swiftcaffe as caffe

from conftest import ROOT, fashion_test_image, png, run_command


def test_lenet_session_agrees_with_classify(tmp_path):
    net = caffe.Net(os.path.join(ROOT, "nets", "lenet.yaml"), caffe.TEST)
    filters = net.params["conv1"][0].data
    assert filters.shape == (20, 1, 5, 5)
    filters[0] = -filters[0]          # surgery on the first filter
    filters[3] *= 2
    weights = str(tmp_path / "lenet.safetensors")
    net.save(weights)

    picture, label = fashion_test_image(0)
    path = str(tmp_path / "picture.png")
    png(path, picture)

    # The test-phase data layer scales bytes by 1/256; feed the picture the same way.
    transformer = caffe.io.Transformer({"data": net.blobs["data"].data.shape})
    transformer.set_transpose("data", (2, 0, 1))
    transformer.set_raw_scale("data", 255)
    transformer.set_input_scale("data", 0.00390625)
    net.blobs["data"].data[0] = transformer.preprocess("data", caffe.io.load_image(path, color=False))
    scores = net.forward(start="conv1", end="ip2")["ip2"][0].astype(np.float64)
    probabilities = np.exp(scores - scores.max())
    probabilities /= probabilities.sum()
    mine = list(np.argsort(-probabilities)[:3])

    answer = json.loads(run_command("classify", "nets/lenet.yaml", "--weights", weights, path, "--top", "3", "--json"))
    top = answer["pictures"][0]["top"]
    assert [entry["label"] for entry in top] == mine
    np.testing.assert_allclose([entry["probability"] for entry in top], probabilities[mine], rtol=1e-4)
    # The changed filter mattered: the file's weights are the changed ones.
    reloaded = caffe.Net(os.path.join(ROOT, "nets", "lenet.yaml"), caffe.TEST, weights=weights)
    np.testing.assert_array_equal(reloaded.params["conv1"][0].data[0], filters[0])
