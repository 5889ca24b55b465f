"""Solvers from Python: steps lower the loss, an update is what SGD says, a restored run goes
on exactly as an unbroken one, and the nets outlive the solver."""
import os

import numpy as np

import swiftcaffe as caffe

from conftest import ROOT

NET = """
name: regress
layers:
  - {name: data, type: DummyData, top: [x, y], shape: [[8, 3], [8, 1]], data_filler: [{type: gaussian, std: 1}, {type: constant, value: 0.5}]}
  - {name: fit, type: InnerProduct, bottom: x, top: fit, num_output: 1, weight_filler: gaussian}
  - {name: loss, type: EuclideanLoss, bottom: [fit, y], top: loss}
solver:
  type: SGD
  base_lr: 0.05
  momentum: 0.9
  max_iter: 40
  snapshot_prefix: %s
"""


def solver_file(write, tmp_path):
    return write(NET % (tmp_path / "run"), "regress.yaml")


def test_steps_lower_the_loss(write, tmp_path):
    solver = caffe.get_solver(solver_file(write, tmp_path))
    assert solver.iter == 0 and solver.max_iter == 40
    solver.net.forward()
    first = float(solver.net.blobs["loss"].data)
    solver.step(30)
    assert solver.iter == 30
    solver.net.forward()
    assert float(solver.net.blobs["loss"].data) < first / 2
    solver.solve()
    assert solver.iter == 40


def test_apply_update_is_one_sgd_step(write, tmp_path):
    solver = caffe.SGDSolver(solver_file(write, tmp_path))
    weights = solver.net.layers[1].blobs[0]
    weights.data[...] = 0
    weights.diff[...] = 1
    solver.apply_update()
    np.testing.assert_allclose(weights.data, -0.05, rtol=1e-6)
    assert solver.iter == 1


def test_a_restored_run_goes_on_exactly(write, tmp_path):
    path = solver_file(write, tmp_path)
    unbroken = caffe.SGDSolver(path)
    unbroken.step(20)
    broken = caffe.SGDSolver(path)
    broken.step(10)
    broken.snapshot()
    state = str(tmp_path / "run_iter_10.solverstate")
    assert os.path.isfile(state) and os.path.isfile(str(tmp_path / "run_iter_10.safetensors"))
    resumed = caffe.SGDSolver(path)
    resumed.restore(state)
    assert resumed.iter == 10
    resumed.step(10)
    np.testing.assert_array_equal(resumed.net.params["fit"][0].data, unbroken.net.params["fit"][0].data)


def test_a_caffe_solver_names_its_net_and_writes_caffemodels(write, tmp_path):
    net = write("""
layer { name: "data" type: "DummyData" top: "x" top: "y"
  dummy_data_param { shape { dim: 4 dim: 2 } shape { dim: 4 dim: 1 } data_filler { type: "gaussian" } } }
layer { name: "fit" type: "InnerProduct" bottom: "x" top: "fit" inner_product_param { num_output: 1 } }
layer { name: "loss" type: "EuclideanLoss" bottom: "fit" bottom: "y" top: "loss" }
""", "train_val.prototxt")
    solver_path = write('net: "%s" base_lr: 0.01 max_iter: 5 test_iter: 1 test_interval: 5 snapshot_prefix: "%s"'
                        % (net, tmp_path / "model"), "solver.prototxt")
    solver = caffe.AdamSolver(solver_path)
    assert len(solver.test_nets) == 1
    # The test net shares the train net's parameters.
    solver.net.params["fit"][0].data[...] = 0.25
    assert (solver.test_nets[0].params["fit"][0].data == 0.25).all()
    nets = [solver.net] + solver.test_nets
    solver.solve()
    assert os.path.isfile(str(tmp_path / "model_iter_5.caffemodel"))
    del solver
    assert all(np.isfinite(net.blobs["loss"].data) for net in nets)
