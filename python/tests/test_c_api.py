"""The C header as a C program sees it: compiled against include/swiftcaffe.h, linked with
libSwiftCaffeC.so, run on a net; its loss is the one Python gets, its errors are located."""
import os
import shutil
import subprocess

import numpy as np
import pytest

import swiftcaffe as caffe

from conftest import ROOT

PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include "swiftcaffe.h"

int main(int argc, char **argv) {
    sc_net *net = NULL;
    if (sc_net_open(argv[1] ":missing", NULL, SC_TEST, 0, NULL, SC_AS_WRITTEN, &net) != SC_ERROR || net != NULL) return 10;
    printf("error: %s\n", sc_last_error());
    if (sc_net_open(argv[1], NULL, SC_TEST, 0, NULL, SC_AS_WRITTEN, &net) != SC_OK) { printf("%s\n", sc_last_error()); return 11; }
    float *data; int axes; int64_t shape[SC_MAX_AXES];
    if (sc_net_blob(net, "data", SC_DATA, &data, &axes, shape) != SC_OK || axes != 2) return 12;
    for (int64_t i = 0; i < shape[0] * shape[1]; i++) data[i] = (float)i / 10;
    float *target;
    if (sc_net_blob(net, "target", SC_DATA, &target, &axes, shape) != SC_OK) return 13;
    for (int64_t i = 0; i < shape[0] * shape[1]; i++) target[i] = 0.5f;
    float loss = -1;
    if (sc_net_forward(net, 0, -1, &loss) != SC_OK) return 14;
    if (sc_net_blob(net, "nothing", SC_DATA, &data, &axes, shape) != SC_ERROR_NOT_FOUND) return 15;
    if (sc_net_save(net, argv[2]) != SC_OK) return 16;
    printf("loss %.9g\n", loss);
    sc_net_close(net);
    return 0;
}
"""


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_a_c_program_gets_what_python_gets(write, tmp_path):
    from test_net import MLP
    path = write(MLP)
    source = tmp_path / "program.c"
    source.write_text(PROGRAM.replace('argv[1] ":missing"', '"%s.missing"' % path))
    binary = str(tmp_path / "program")
    # The library the Python package loads (scripts/python-tests.sh names it), else the release build.
    named = os.environ.get("SWIFTCAFFE_LIBRARY")
    library = os.path.dirname(named) if named else os.path.join(ROOT, ".build", "release")
    subprocess.run(["cc", "-o", binary, str(source), "-I", os.path.join(ROOT, "Sources", "SwiftCaffeC", "include"),
                    "-L", library, "-lSwiftCaffeC", "-Wl,-rpath," + library], check=True)
    weights = str(tmp_path / "weights.safetensors")
    output = subprocess.run([binary, path, weights], stdout=subprocess.PIPE, text=True)
    assert output.returncode == 0, output.stdout
    assert path + ".missing" in output.stdout
    loss = float(output.stdout.split("loss ")[1])
    net = caffe.Net(path, caffe.TEST, weights=weights)
    data = (np.arange(12, dtype=np.float32) / 10).reshape(4, 3)
    assert net.forward(data=data, target=np.full((4, 2), 0.5))["loss"] == pytest.approx(loss, rel=1e-6)
