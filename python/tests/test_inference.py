"""caffe.Net(..., inference=True): planned as `swiftcaffe test` plans it (BatchNorm, Scale and
ReLU folded into the convolution, memory shared), yet every blob a script reads holds what
the as-written net computes, loaded weights are used, parameters cannot be written behind
its back, and backward is refused."""
import numpy as np
import pytest

import swiftcaffe as caffe

NET = """
name: block
layers:
  - {name: input, type: Input, top: data, shape: [2, 3, 8, 8]}
  - {name: conv1, type: Convolution, bottom: data, top: conv1, num_output: 8, kernel_size: 3, pad: 1, weight_filler: gaussian, bias_filler: gaussian}
  - {name: bn1, type: BatchNorm, bottom: conv1, top: conv1, use_global_stats: true}
  - {name: scale1, type: Scale, bottom: conv1, top: conv1, bias_term: true, filler: {type: uniform, min: 0.5, max: 1.5}, bias_filler: gaussian}
  - {name: relu1, type: ReLU, bottom: conv1, top: conv1}
  - {name: conv2, type: Convolution, bottom: conv1, top: conv2, num_output: 8, kernel_size: 3, pad: 1, weight_filler: gaussian}
  - {name: sum, type: Eltwise, bottom: [conv1, conv2], top: sum}
  - {name: pool, type: Pooling, bottom: sum, top: pool, pool: AVE, global_pooling: true}
  - {name: fc, type: InnerProduct, bottom: pool, top: fc, num_output: 4, weight_filler: gaussian}
  - {name: prob, type: Softmax, bottom: fc, top: prob}
"""


@pytest.fixture
def nets(write, tmp_path):
    path = write(NET)
    written = caffe.Net(path, caffe.TEST)
    rng = np.random.RandomState(0)
    mean, variance = written.params["bn1"][0].data, written.params["bn1"][1].data
    mean[...] = rng.randn(8)
    variance[...] = rng.rand(8) + 0.5
    written.params["bn1"][2].data[...] = 1
    weights = str(tmp_path / "block.safetensors")
    written.save(weights)
    fast = caffe.Net(path, caffe.TEST, weights=weights, inference=True)
    return written, fast, rng


def test_outputs_and_read_blobs_match_the_as_written_net(nets):
    written, fast, rng = nets
    # The inference plan is not the written one: BatchNorm, Scale and ReLU run inside conv1.
    assert "bn1" in written._layer_names and "bn1" not in fast._layer_names
    data = rng.randn(2, 3, 8, 8).astype(np.float32)
    expected = written.forward(data=data)["prob"].copy()
    np.testing.assert_allclose(fast.forward(data=data)["prob"], expected, rtol=1e-5, atol=1e-6)
    # conv1 (folded into by BatchNorm, Scale and ReLU) and sum take turns in memory in the
    # inference plan; reading them plans the net again keeping them, with the same values.
    for name in ["conv1", "sum", "conv2"]:
        np.testing.assert_allclose(fast.blobs[name].data, written.blobs[name].data, rtol=1e-4, atol=1e-5)
    assert (fast.blobs["conv1"].data >= 0).all()  # the ReLU applied, as in Caffe's in-place blob
    # Later forwards keep them.
    other = rng.randn(2, 3, 8, 8).astype(np.float32)
    written.forward(data=other)
    fast.forward(data=other)
    np.testing.assert_allclose(fast.blobs["sum"].data, written.blobs["sum"].data, rtol=1e-4, atol=1e-5)


def test_parameters_are_read_only_and_loaded_weights_are_used(nets, tmp_path):
    written, fast, rng = nets
    data = rng.randn(2, 3, 8, 8).astype(np.float32)
    fast.forward(data=data)
    # The net computes with its cached copy: a write it would not see is refused instead.
    with pytest.raises(ValueError, match="read-only"):
        fast.params["conv1"][0].data[...] = 0
    written.params["conv1"][0].data[...] *= -1
    written.params["fc"][1].data[...] = [3, 0, 0, 0]
    weights = str(tmp_path / "changed.safetensors")
    written.save(weights)
    fast.copy_from(weights)
    np.testing.assert_allclose(fast.forward(data=data)["prob"], written.forward(data=data)["prob"], rtol=1e-5, atol=1e-6)


def test_backward_is_refused_with_the_way_out(nets):
    _, fast, _ = nets
    fast.forward()
    with pytest.raises(caffe.SwiftCaffeError, match="built for inference"):
        fast.backward()
    with pytest.raises(caffe.SwiftCaffeError, match="test-phase"):
        caffe.Net("unused.yaml", caffe.TRAIN, inference=True)
