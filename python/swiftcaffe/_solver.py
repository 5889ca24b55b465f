"""Solvers: pycaffe's `SGDSolver`, `AdamSolver`, ... and `get_solver` over the C API."""
import ctypes

from ._library import check, lib, text
from ._net import Net


class Solver:
    """Trains the net a solver file names (a Caffe solver prototxt with `net:`, or a YAML net
    with a `solver:` section). `net` is the train net, `test_nets` the test net (one, or none),
    sharing its parameters; both keep every blob, so they can be read between steps.
    Snapshots go where `snapshot_prefix` says, as `.caffemodel` for a prototxt solver."""

    type = None  # the file's own type

    def __init__(self, solver_file, weights_extension=None):
        pointer = ctypes.c_void_p()
        check(lib.sc_solver_open(text(solver_file), text(self.type), text(weights_extension), ctypes.byref(pointer)))
        self._pointer = pointer
        net = ctypes.c_void_p()
        check(lib.sc_solver_net(pointer, ctypes.byref(net)))
        self.net = Net._from_handle(net)
        self.test_nets = []
        for index in range(lib.sc_solver_test_net_count(pointer)):
            test = ctypes.c_void_p()
            check(lib.sc_solver_test_net(pointer, index, ctypes.byref(test)))
            self.test_nets.append(Net._from_handle(test))

    def __del__(self, close=lib.sc_solver_close):  # bound now: see _Handle.__del__
        pointer = getattr(self, "_pointer", None)
        if pointer:
            close(pointer)
            self._pointer = None

    @property
    def iter(self):
        return int(lib.sc_solver_iter(self._pointer))

    @property
    def max_iter(self):
        return int(lib.sc_solver_max_iter(self._pointer))

    def step(self, iterations):
        """Trains `iterations` iterations, testing and snapshotting at the solver's intervals."""
        check(lib.sc_solver_step(self._pointer, int(iterations)))

    def solve(self, resume_file=None):
        """Trains to max_iter, first restoring `resume_file` (a .solverstate) if given."""
        if resume_file:
            self.restore(resume_file)
        check(lib.sc_solver_solve(self._pointer))

    def apply_update(self):
        """Applies the gradients the train net holds (after your own forward and backward)."""
        check(lib.sc_solver_apply_update(self._pointer))

    def snapshot(self):
        check(lib.sc_solver_snapshot(self._pointer))

    def restore(self, state_file):
        check(lib.sc_solver_restore(self._pointer, text(state_file)))

    def test(self):
        """Scores the test net over test_iter batches: (mean loss, mean accuracy), NaN where absent."""
        loss, accuracy = ctypes.c_float(), ctypes.c_float()
        check(lib.sc_solver_test(self._pointer, ctypes.byref(loss), ctypes.byref(accuracy)))
        return loss.value, accuracy.value


def _solver_type(name, caffe_type):
    return type(name, (Solver,), {"type": caffe_type, "__doc__": "A solver that runs %s whatever the file says." % caffe_type})


SGDSolver = _solver_type("SGDSolver", "SGD")
NesterovSolver = _solver_type("NesterovSolver", "Nesterov")
AdaGradSolver = _solver_type("AdaGradSolver", "AdaGrad")
RMSPropSolver = _solver_type("RMSPropSolver", "RMSProp")
AdaDeltaSolver = _solver_type("AdaDeltaSolver", "AdaDelta")
AdamSolver = _solver_type("AdamSolver", "Adam")


def get_solver(solver_file):
    """The solver of the type the file names (SGD when it names none)."""
    return Solver(solver_file)
