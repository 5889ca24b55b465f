"""Drawing nets, as pycaffe's `caffe.draw`: SwiftCaffe's own drawing (the one `swiftcaffe draw`
makes), rendered by Graphviz's `dot` (Debian's graphviz) for formats other than DOT."""
import ctypes
import os
import subprocess
import tempfile

from ._library import check, lib, text
from ._net import TEST, TRAIN


def _dot(caffe_net, phase):
    """DOT text for a net file's path or a NetParameter (from `NetSpec.to_proto()`)."""
    if isinstance(caffe_net, (str, bytes, os.PathLike)):
        path, temporary = caffe_net, None
    else:
        handle, temporary = tempfile.mkstemp(suffix=".prototxt")
        with os.fdopen(handle, "w") as out:
            out.write(str(caffe_net))
        path = temporary
    try:
        graph = ctypes.c_void_p()
        check(lib.sc_net_file_dot(text(path), TRAIN if phase == TRAIN else TEST, ctypes.byref(graph)))
        try:
            return ctypes.string_at(graph).decode("utf-8")
        finally:
            lib.sc_free(graph)
    finally:
        if temporary:
            os.remove(temporary)


def get_dot_graph(caffe_net, rankdir="LR", phase=None):
    """The net's graph as DOT text, laid out in direction `rankdir` (LR, TB, BT, RL)."""
    graph = _dot(caffe_net, phase)
    lines = [line for line in graph.splitlines() if "rankdir" not in line]
    return "\n".join([lines[0], "  rankdir=%s;" % rankdir] + lines[1:]) + "\n"


def draw_net(caffe_net, rankdir, ext="png", phase=None, display_lrm=False):
    """The drawing as bytes in format `ext` (png, svg, pdf, dot, ...)."""
    graph = get_dot_graph(caffe_net, rankdir, phase)
    if ext in ("dot", "gv"):
        return graph.encode()
    try:
        return subprocess.run(["dot", "-T" + ext], input=graph.encode(), stdout=subprocess.PIPE, check=True).stdout
    except FileNotFoundError:
        raise RuntimeError("rendering needs Graphviz's dot (apt-get install graphviz); a .dot file needs nothing")


def draw_net_to_file(caffe_net, filename, rankdir="LR", phase=None, display_lrm=False):
    """Writes the drawing to `filename`, in the format its extension names."""
    extension = os.path.splitext(filename)[1][1:] or "png"
    with open(filename, "wb") as out:
        out.write(draw_net(caffe_net, rankdir, extension, phase))
