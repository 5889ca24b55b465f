#!/usr/bin/env bash
# Installs the Debian packages SwiftCaffe needs, or says exactly which are missing.
#   libopenblas-dev  GEMM for Convolution and InnerProduct (cblas.h)
#   libdnnl-dev      oneDNN, the convolution engine (docs/performance.md, "Convolution engine")
#   libyaml-dev      the YAML parser behind net files (yaml-0.1)
#   zlib1g-dev       reading .gz data files
#   libpng-dev       reading and writing PNG images (ImageData, convert, jvp --input)
#   libturbojpeg0-dev  reading and writing JPEG images (libjpeg-turbo's TurboJPEG API)
#   dataset-fashion-mnist  the data set the example nets train on (/usr/share/datasets/fashion-mnist)
#   fortunes         the text nets/char_rnn.yaml learns (/usr/share/games/fortunes/cookie)
#   libopenmpi-dev, openmpi-bin  data-parallel training under mpirun (Open MPI)
#   liblmdb-dev      Caffe's LMDB databases (the Data layer, convert-imageset)
#   libhdf5-dev      HDF5 files (the HDF5Data and HDF5Output layers)
set -euo pipefail

packages=(libopenblas-dev libdnnl-dev libyaml-dev zlib1g-dev libpng-dev libturbojpeg0-dev dataset-fashion-mnist fortunes libopenmpi-dev openmpi-bin liblmdb-dev libhdf5-dev)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
    echo "error: missing packages: ${missing[*]} (install them with your system's package manager)" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
        echo "error: missing packages: ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi
echo "installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
