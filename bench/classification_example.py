#!/usr/bin/env python3
"""BVLC Caffe's examples/00-classification notebook, its code as a script, over
`import swiftcaffe as caffe`, checked against `swiftcaffe classify` on the same picture and
weights: the same top 5.

    PYTHONPATH=python bench/classification_example.py CAFFE_CHECKOUT

CAFFE_CHECKOUT holds models/bvlc_reference_caffenet/deploy.prototxt,
python/caffe/imagenet/ilsvrc_2012_mean.npy and examples/images/cat.jpg (a clone of
BVLC/caffe). Without the 240 MB trained caffemodel the weights are random (Gaussian, a fixed
seed), written to a .caffemodel that both sides load. So that both sides classify the very
same pixels, the cat is first resized to 227 x 227 here and saved as a PNG: `classify`
resizes with its own filter, the notebook with `caffe.io.resize_image`."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "python", "tests"))
import swiftcaffe as caffe  # noqa: E402
from conftest import png  # noqa: E402


def main():
    caffe_root = sys.argv[1]
    work = tempfile.mkdtemp()
    model_def = os.path.join(caffe_root, "models/bvlc_reference_caffenet/deploy.prototxt")
    model_weights = os.path.join(work, "caffenet_random.caffemodel")
    mean_file = os.path.join(caffe_root, "python/caffe/imagenet/ilsvrc_2012_mean.npy")

    # Random weights, once.
    rng = np.random.RandomState(0)
    net = caffe.Net(model_def, caffe.TEST)
    for blobs in net.params.values():
        blobs[0].data[...] = rng.normal(0, 0.01, blobs[0].data.shape)
        blobs[1].data[...] = rng.normal(0, 0.1, blobs[1].data.shape)
    net.save(model_weights)

    cat = caffe.io.resize_image(caffe.io.load_image(os.path.join(caffe_root, "examples/images/cat.jpg")), (227, 227))
    picture = os.path.join(work, "cat_227.png")
    png(picture, np.round(cat * 255).astype(np.uint8))

    # ---- the notebook's code ----
    caffe.set_mode_cpu()
    net = caffe.Net(model_def, model_weights, caffe.TEST)
    mu = np.load(mean_file)
    mu = mu.mean(1).mean(1)
    transformer = caffe.io.Transformer({"data": net.blobs["data"].data.shape})
    transformer.set_transpose("data", (2, 0, 1))
    transformer.set_mean("data", mu)
    transformer.set_raw_scale("data", 255)
    transformer.set_channel_swap("data", (2, 1, 0))
    net.blobs["data"].reshape(50, 3, 227, 227)
    image = caffe.io.load_image(picture)
    transformed_image = transformer.preprocess("data", image)
    net.blobs["data"].data[...] = transformed_image
    output = net.forward()
    output_prob = output["prob"][0]
    top_inds = output_prob.argsort()[::-1][:5]
    for layer_name, blob in net.blobs.items():
        print(layer_name + "\t" + str(blob.data.shape))
    # ---- end of the notebook's code ----

    answer = json.loads(subprocess.run(
        [os.path.join(ROOT, ".build", "release", "swiftcaffe"), "classify", model_def, "--weights", model_weights, picture,
         "--mean-file", mean_file, "--top", "5", "--json"], stdout=subprocess.PIPE, check=True, text=True).stdout)
    theirs = answer["pictures"][0]["top"]
    print("notebook top 5:", [(int(i), float(output_prob[i])) for i in top_inds])
    print("classify top 5:", [(entry["label"], entry["probability"]) for entry in theirs])
    same = [int(i) for i in top_inds] == [entry["label"] for entry in theirs]
    gap = max(abs(float(output_prob[entry["label"]]) - entry["probability"]) for entry in theirs)
    print("same top 5: %s; largest probability difference %.2g" % (same, gap))
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
