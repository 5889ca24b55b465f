"""SwiftCaffe from Python, with pycaffe's names: `import swiftcaffe as caffe`.

    net = caffe.Net('deploy.prototxt', caffe.TEST, weights='model.caffemodel')
    net.blobs['data'].data[...] = picture
    scores = net.forward()['prob']

Nets and solvers run in SwiftCaffe's library (libSwiftCaffeC.so, through ctypes); blobs'
`data` and `diff` are numpy views of its memory. See docs/python.md.
"""
import warnings

from . import coord_map, draw, io, proto
from ._library import SwiftCaffeError, lib
from ._net import TEST, TRAIN, Blob, Layer, Net
from ._solver import (AdaDeltaSolver, AdaGradSolver, AdamSolver, NesterovSolver, RMSPropSolver, SGDSolver, Solver,
                      get_solver)
from .classifier import Classifier
from .detector import Detector
from .net_spec import NetSpec, layers, params, to_proto

__version__ = lib.sc_version().decode()


def layer_type_list():
    """The layer types SwiftCaffe knows, sorted."""
    return lib.sc_layer_types().decode().split("\n")


def has_nccl():
    """SwiftCaffe trains on several processes over MPI (`swiftcaffe train` under mpirun), not NCCL."""
    return False


def set_mode_cpu():
    """SwiftCaffe runs on the CPU: nothing to change."""


def set_mode_gpu():
    """SwiftCaffe has no GPU mode; it warns and runs on the CPU."""
    warnings.warn("SwiftCaffe runs on the CPU only; set_mode_gpu() is ignored")


def set_device(device_id):
    """Accepted for scripts written for Caffe's GPUs; SwiftCaffe runs on the CPU."""


def set_threads(threads):
    """Threads for every later call's kernels (0: every core, the default)."""
    from ._library import check
    check(lib.sc_set_threads(int(threads)))


def set_random_seed(seed):
    """Ignored, with a warning: SwiftCaffe's fillers, shuffles and dropout masks draw from the
    solver file's `random_seed` (seed 1 when it has none), so runs repeat by default."""
    warnings.warn("set_random_seed is ignored: set 'random_seed' in the solver file")
