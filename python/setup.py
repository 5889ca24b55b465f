"""`pip install ./python`: builds SwiftCaffe's C library with the Swift toolchain (or takes
the one $SWIFTCAFFE_LIBRARY names) and installs it inside the package, beside the Python code
that loads it. The library finds the Swift runtime where the toolchain that built it keeps
it (its run path), so that toolchain must stay installed."""
import os
import re
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LIBRARY = "libSwiftCaffeC.so"


def library():
    named = os.environ.get("SWIFTCAFFE_LIBRARY")
    if named:
        return named
    if not os.path.isfile(os.path.join(ROOT, "Package.swift")):
        raise SystemExit("error: build from the SwiftCaffe repository (python/ inside it), or set SWIFTCAFFE_LIBRARY "
                         "to a built libSwiftCaffeC.so")
    subprocess.check_call(["swift", "build", "-c", "release", "--product", "SwiftCaffeC"], cwd=ROOT)
    return os.path.join(ROOT, ".build", "release", LIBRARY)


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "swiftcaffe", LIBRARY)
        shutil.copyfile(library(), target)


def version():
    with open(os.path.join(ROOT, "Sources", "SwiftCaffe", "Exports.swift")) as source:
        return re.search(r'current = "([^"]+)"', source.read()).group(1)


setup(version=version(), cmdclass={"build_py": BuildWithLibrary})
