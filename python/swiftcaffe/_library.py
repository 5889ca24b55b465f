"""The C library (libSwiftCaffeC.so) and its function signatures.

It is looked for, in order: the file $SWIFTCAFFE_LIBRARY names; a copy inside this package
(what `pip install ./python` puts there); the repository's release build
(`swift build -c release --product SwiftCaffeC`), for running from a checkout.
"""
import ctypes
import os

LIBRARY_NAME = "libSwiftCaffeC.so"
MAX_AXES = 8


class SwiftCaffeError(RuntimeError):
    """A call into SwiftCaffe failed. The message is the library's: the file, line, column,
    layer and fix, as the command line prints them."""


def _candidates():
    named = os.environ.get("SWIFTCAFFE_LIBRARY")
    if named:
        yield named
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, LIBRARY_NAME)
    yield os.path.join(os.path.dirname(os.path.dirname(here)), ".build", "release", LIBRARY_NAME)


def _load():
    tried = []
    for path in _candidates():
        if os.path.isfile(path):
            return ctypes.CDLL(path)
        tried.append(path)
    raise ImportError(
        "SwiftCaffe's C library was not found (looked for " + ", ".join(tried) + "): build it with "
        "`swift build -c release --product SwiftCaffeC` in the repository, or install the package "
        "with `pip install ./python`, or set SWIFTCAFFE_LIBRARY to its path")


lib = _load()

_float_p = ctypes.POINTER(ctypes.c_float)
_handle = ctypes.c_void_p
_shape = ctypes.c_int64 * MAX_AXES


def _declare(name, result, *arguments):
    function = getattr(lib, name)
    function.restype = result
    function.argtypes = list(arguments)


_declare("sc_version", ctypes.c_char_p)
_declare("sc_last_error", ctypes.c_char_p)
_declare("sc_set_threads", ctypes.c_int, ctypes.c_int)
_declare("sc_free", None, ctypes.c_void_p)
_declare("sc_net_open", ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
         ctypes.c_int, ctypes.POINTER(_handle))
_declare("sc_net_parameters_changed", ctypes.c_int, _handle)
_declare("sc_net_retain", None, _handle)
_declare("sc_net_close", None, _handle)
_declare("sc_net_describe", ctypes.c_char_p, _handle)
_declare("sc_net_blob", ctypes.c_int, _handle, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_float_p),
         ctypes.POINTER(ctypes.c_int), _shape)
_declare("sc_net_param", ctypes.c_int, _handle, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.POINTER(_float_p),
         ctypes.POINTER(ctypes.c_int), _shape)
_declare("sc_net_reshape_input", ctypes.c_int, _handle, ctypes.c_char_p, ctypes.c_int, _shape)
_declare("sc_net_reshape", ctypes.c_int, _handle)
_declare("sc_net_forward", ctypes.c_int, _handle, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_float))
_declare("sc_net_backward", ctypes.c_int, _handle, ctypes.c_int, ctypes.c_int)
_declare("sc_net_clear_param_diffs", ctypes.c_int, _handle)
_declare("sc_net_save", ctypes.c_int, _handle, ctypes.c_char_p)
_declare("sc_net_generation", ctypes.c_int64, _handle)
_declare("sc_net_hold", ctypes.c_void_p, _handle)
_declare("sc_net_release_hold", None, ctypes.c_void_p)
_declare("sc_net_save_format", ctypes.c_int, _handle, ctypes.c_char_p, ctypes.c_char_p)
_declare("sc_net_load", ctypes.c_int, _handle, ctypes.c_char_p)
_declare("sc_solver_open", ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_handle))
_declare("sc_solver_close", None, _handle)
_declare("sc_solver_net", ctypes.c_int, _handle, ctypes.POINTER(_handle))
_declare("sc_solver_test_net_count", ctypes.c_int, _handle)
_declare("sc_solver_test_net", ctypes.c_int, _handle, ctypes.c_int, ctypes.POINTER(_handle))
_declare("sc_solver_step", ctypes.c_int, _handle, ctypes.c_int)
_declare("sc_solver_solve", ctypes.c_int, _handle)
_declare("sc_solver_apply_update", ctypes.c_int, _handle)
_declare("sc_solver_iter", ctypes.c_int64, _handle)
_declare("sc_solver_max_iter", ctypes.c_int64, _handle)
_declare("sc_solver_snapshot", ctypes.c_int, _handle)
_declare("sc_solver_restore", ctypes.c_int, _handle, ctypes.c_char_p)
_declare("sc_solver_test", ctypes.c_int, _handle, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float))
_declare("sc_layer_types", ctypes.c_char_p)
_declare("sc_net_file_dot", ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p))
_declare("sc_image_load", ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_float_p),
         ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))

NOT_FOUND = 2


def check(code, kind=None):
    """Raises the library's error for a failing status code: KeyError for an unknown name or
    index, SwiftCaffeError otherwise."""
    if code != 0:
        message = lib.sc_last_error().decode("utf-8", "replace")
        if kind is None:
            kind = KeyError if code == NOT_FOUND else SwiftCaffeError
        raise kind(message)


def text(value):
    """A path or name as the C API takes it (None stays None)."""
    if value is None:
        return None
    return os.fspath(value).encode("utf-8")


def new_shape():
    return _shape()


def float_pointer():
    return _float_p()
