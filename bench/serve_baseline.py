#!/usr/bin/env python3
"""The PyTorch server a user would write, as the anchor for bench/serve_load.py: FastAPI under
uvicorn, one process, the PyTorch twin of a net (bench/pytorch_net.py) in eval mode under
no_grad, one forward per request, and the same v2 request and response as `swiftcaffe serve`
(the binary tensor data extension), so that one load generator drives both.

    serve_baseline.py DEPLOY.yaml --port 8001 [--threads 2] [--name NAME]

DEPLOY.yaml is a deploy net (`swiftcaffe convert --deploy`), its output the last layer's top.
Run with OMP_WAIT_POLICY=PASSIVE (PyTorch's spinning threads collapse under load).
"""
import argparse
import json
import struct

import numpy as np
import torch
import uvicorn
import yaml
from fastapi import FastAPI, Request, Response

from pytorch_net import Twin, as_list


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("net")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="model")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    spec = yaml.safe_load(open(args.net))
    model = Twin(spec, None).eval()
    input_name = next(iter(model.inputs))
    output_name = as_list(spec["layers"][-1]["top"])[0]
    app = FastAPI()

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request):
        body = await request.body()
        length = int(request.headers.get("inference-header-content-length", len(body)))
        header = json.loads(body[:length])
        tensor = header["inputs"][0]
        x = torch.from_numpy(np.frombuffer(body[length:], dtype=np.float32).reshape(tensor["shape"]).copy())
        with torch.no_grad():
            _, blobs = model({input_name: x})
        y = blobs[output_name].numpy()
        raw = y.astype(np.float32).tobytes()
        answer = json.dumps({"model_name": name, "model_version": "1", "outputs": [
            {"name": output_name, "datatype": "FP32", "shape": list(y.shape), "parameters": {"binary_data_size": len(raw)}}]}).encode()
        return Response(answer + raw, media_type="application/octet-stream",
                        headers={"Inference-Header-Content-Length": str(len(answer))})

    @app.get("/v2/health/ready")
    async def ready():
        return {}

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
