"""caffe.Net over SwiftCaffe: blobs are the net's memory, forward and backward compute what
numpy computes, reshaping keeps the weights, weights go out and back in, errors are located."""
import numpy as np
import pytest

import swiftcaffe as caffe

MLP = """
name: mlp
layers:
  - {name: input, type: Input, top: [data, target], shape: [[4, 3], [4, 2]]}
  - {name: hidden, type: InnerProduct, bottom: data, top: hidden, num_output: 5, weight_filler: gaussian, bias_filler: gaussian}
  - {name: squash, type: TanH, bottom: hidden, top: squashed}
  - {name: out, type: InnerProduct, bottom: squashed, top: out, num_output: 2, weight_filler: gaussian}
  - {name: loss, type: EuclideanLoss, bottom: [out, target], top: loss}
"""


def numpy_forward(net, data, target):
    w1, b1 = (blob.data for blob in net.params["hidden"])
    (w2, b2) = (blob.data for blob in net.params["out"])
    out = np.tanh(data @ w1.T + b1) @ w2.T + b2
    return out, ((out - target) ** 2).sum() / (2 * len(data))


@pytest.fixture
def mlp(write):
    return caffe.Net(write(MLP), caffe.TRAIN)


def test_structure_is_pycaffes(mlp):
    assert list(mlp.blobs) == ["data", "target", "hidden", "squashed", "out", "loss"]
    assert mlp._layer_names == ["input", "hidden", "squash", "out", "loss"]
    assert [layer.type for layer in mlp.layers] == ["Input", "InnerProduct", "TanH", "InnerProduct", "EuclideanLoss"]
    assert list(mlp.params) == ["hidden", "out"] and [p.data.shape for p in mlp.params["hidden"]] == [(5, 3), (5,)]
    assert mlp.inputs == ["data", "target"] and mlp.outputs == ["loss"]
    assert mlp.top_names["loss"] == ["loss"] and mlp.bottom_names["loss"] == ["out", "target"]


def test_blob_data_is_the_nets_memory_not_a_copy(mlp):
    first, second = mlp.blobs["data"].data, mlp.blobs["data"].data
    assert first.__array_interface__["data"][0] == second.__array_interface__["data"][0]
    first[...] = 0.5
    assert (mlp.blobs["data"].data == 0.5).all()
    weights = mlp.params["hidden"][0].data
    weights[0, 0] = 42
    assert mlp.layers[1].blobs[0].data[0, 0] == 42


def test_forward_computes_what_numpy_computes(mlp):
    rng = np.random.RandomState(0)
    data, target = rng.randn(4, 3).astype(np.float32), rng.randn(4, 2).astype(np.float32)
    result = mlp.forward(data=data, target=target)
    expected_out, expected_loss = numpy_forward(mlp, data, target)
    assert set(result) == {"loss"}
    np.testing.assert_allclose(result["loss"], expected_loss, rtol=1e-5)
    np.testing.assert_allclose(mlp.blobs["out"].data, expected_out, rtol=1e-5, atol=1e-6)


def test_backward_matches_finite_differences(mlp):
    rng = np.random.RandomState(1)
    data, target = rng.randn(4, 3).astype(np.float32), rng.randn(4, 2).astype(np.float32)
    mlp.forward(data=data, target=target)
    mlp.clear_param_diffs()
    diffs = mlp.backward()
    assert set(diffs) == {"data", "target"}  # the inputs' gradients, as pycaffe returns them
    weights = mlp.params["hidden"][0].data
    analytic = mlp.params["hidden"][0].diff.copy()
    data_gradient = diffs["data"].copy()
    step = 1e-2
    for (i, j) in [(0, 0), (2, 1), (4, 2)]:
        saved = weights[i, j]
        weights[i, j] = saved + step
        up = numpy_forward(mlp, data, target)[1]
        weights[i, j] = saved - step
        down = numpy_forward(mlp, data, target)[1]
        weights[i, j] = saved
        np.testing.assert_allclose(analytic[i, j], (up - down) / (2 * step), rtol=2e-2, atol=1e-4)
    for (n, k) in [(0, 0), (3, 2)]:
        moved = data.copy()
        moved[n, k] += step
        up = numpy_forward(mlp, moved, target)[1]
        moved[n, k] -= 2 * step
        down = numpy_forward(mlp, moved, target)[1]
        np.testing.assert_allclose(data_gradient[n, k], (up - down) / (2 * step), rtol=2e-2, atol=1e-4)


def test_forward_and_backward_between_layers(mlp):
    rng = np.random.RandomState(2)
    squashed = rng.randn(4, 5).astype(np.float32)
    mlp.blobs["squashed"].data[...] = squashed
    result = mlp.forward(start="out", end="out")
    w2, b2 = (blob.data for blob in mlp.params["out"])
    np.testing.assert_allclose(result["out"], squashed @ w2.T + b2, rtol=1e-5, atol=1e-6)
    top = rng.randn(4, 2).astype(np.float32)
    mlp.blobs["out"].diff[...] = top
    back = mlp.backward(start="out", end="out")
    np.testing.assert_allclose(back["squashed"], top @ w2, rtol=1e-5, atol=1e-6)


def test_reshaping_an_input_keeps_the_weights(mlp):
    before = mlp.params["hidden"][0].data.copy()
    mlp.blobs["data"].reshape(7, 3)
    mlp.blobs["target"].reshape(7, 2)
    mlp.reshape()
    assert mlp.blobs["data"].data.shape == (7, 3) and mlp.blobs["hidden"].data.shape == (7, 5)
    np.testing.assert_array_equal(mlp.params["hidden"][0].data, before)
    rng = np.random.RandomState(3)
    data, target = rng.randn(7, 3).astype(np.float32), rng.randn(7, 2).astype(np.float32)
    np.testing.assert_allclose(mlp.forward(data=data, target=target)["loss"], numpy_forward(mlp, data, target)[1], rtol=1e-5)
    with pytest.raises(caffe.SwiftCaffeError, match="not the top of an Input"):
        mlp.blobs["hidden"].reshape(7, 6)


@pytest.mark.parametrize("extension", [".caffemodel", ".safetensors", ".h5", ""])
def test_weights_go_out_and_back_in(mlp, write, tmp_path, extension):
    path = str(tmp_path / ("weights" + extension))
    mlp.params["out"][1].data[...] = [1.5, -2.5]
    mlp.save(path)
    other = caffe.Net(write(MLP, "other.yaml"), caffe.TEST, weights=path)
    for name in mlp.params:
        for mine, theirs in zip(mlp.params[name], other.params[name]):
            np.testing.assert_array_equal(mine.data, theirs.data)
    legacy = caffe.Net(write(MLP, "legacy.yaml"), path, caffe.TEST)
    np.testing.assert_array_equal(legacy.params["out"][1].data, [1.5, -2.5])


def test_hdf5_weights_whatever_the_name(mlp, write, tmp_path):
    path = str(tmp_path / "weights")
    mlp.params["hidden"][1].data[...] = np.arange(5)
    mlp.save_hdf5(path)
    with open(path, "rb") as written:
        assert written.read(8) == b"\x89HDF\r\n\x1a\n"
    other = caffe.Net(write(MLP, "other.yaml"), caffe.TEST)
    other.load_hdf5(path)
    np.testing.assert_array_equal(other.params["hidden"][1].data, np.arange(5))


def test_blobs_outlive_the_net(mlp):
    blobs = list(mlp.blobs.values())
    params = [p for ps in mlp.params.values() for p in ps]
    mlp.blobs["data"].data[...] = 3
    del mlp
    assert blobs[0].data.sum() == 3 * 12
    assert all(np.isfinite(p.data).all() for p in params)


def test_errors_name_the_file_line_and_fix(write):
    path = write(MLP.replace("num_output: 5", "num_output: -5"), "bad.yaml")
    with pytest.raises(caffe.SwiftCaffeError) as error:
        caffe.Net(path, caffe.TEST)
    assert path + ":5:" in str(error.value) and "hidden" in str(error.value)
    with pytest.raises(caffe.SwiftCaffeError, match="no such file|does not exist|cannot"):
        caffe.Net(path + ".missing", caffe.TEST)
    with pytest.raises(ValueError):
        caffe.Net(path, 7)
    net = caffe.Net(write(MLP), caffe.TEST)
    with pytest.raises(KeyError):
        net.forward(start="nowhere")
    with pytest.raises(ValueError, match="'data' is"):
        net.forward(data=np.zeros((2, 2)))


def test_prototxt_without_an_extension_and_stages(write):
    path = write("""
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "a" type: "InnerProduct" bottom: "data" top: "a" inner_product_param { num_output: 2 } include { stage: "A" } }
layer { name: "b" type: "InnerProduct" bottom: "data" top: "b" inner_product_param { num_output: 2 } }
""", "net")
    assert caffe.Net(path, caffe.TEST).outputs == ["b"]
    assert sorted(caffe.Net(path, caffe.TEST, stages=["A"]).outputs) == ["a", "b"]


def test_forward_all_splits_into_batches(write):
    net = caffe.Net(write(MLP), caffe.TEST)
    rng = np.random.RandomState(4)
    data, target = rng.randn(10, 3).astype(np.float32), rng.randn(10, 2).astype(np.float32)
    out = net.forward_all(blobs=["out"], data=data, target=target)["out"]
    assert out.shape == (10, 2)
    w1, b1 = (blob.data for blob in net.params["hidden"])
    w2, b2 = (blob.data for blob in net.params["out"])
    np.testing.assert_allclose(out, np.tanh(data @ w1.T + b1) @ w2.T + b2, rtol=1e-5, atol=1e-6)


def test_views_keep_their_net_alive_when_it_is_planned_again(mlp):
    from swiftcaffe._library import lib
    view = mlp.blobs["hidden"].data
    view[...] = 7
    before = lib.sc_net_generation(mlp._handle.pointer)
    mlp.blobs["data"].reshape(9, 3)
    mlp.blobs["target"].reshape(9, 2)
    mlp.reshape()
    assert lib.sc_net_generation(mlp._handle.pointer) == before + 1
    mlp.forward(data=np.ones((9, 3)), target=np.zeros((9, 2)))
    # The old view still reads the old net's memory, which its hold keeps alive.
    assert view.base.owner.generation == before and view.base.owner.pointer
    assert view.shape == (4, 5) and (view == 7).all()
    assert mlp.blobs["hidden"].data.base.owner.generation == before + 1
