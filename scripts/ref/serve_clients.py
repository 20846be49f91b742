"""Real clients against `xray serve`, for serve's protocol tests: TensorFlow Serving's own
Python API (tensorflow-serving-api: gRPC stubs and protos) and Triton's client
(tritonclient: the Open Inference Protocol v2 over HTTP and gRPC). One process makes every
call and prints one JSON object of what the clients saw.

usage: serve_clients.py CONFIG.json

CONFIG: {"rest": "127.0.0.1:PORT", "grpc": "127.0.0.1:PORT", "model": "xray",
         "files": [image paths], "pixels": "raw little-endian float32 file", "size": S}
The pixels are the files' preprocessed images, [len(files), S, S, 3].
"""
import json
import sys

import grpc
import numpy as np
import tensorflow as tf
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc)
from tritonclient.utils import InferenceServerException


def tfs_predict(stub, model, signature, key, tensor):
    req = predict_pb2.PredictRequest()
    req.model_spec.name = model
    req.model_spec.signature_name = signature
    req.inputs[key].CopyFrom(tensor)
    resp = stub.Predict(req, timeout=60)
    return {"probabilities": tf.make_ndarray(resp.outputs["probabilities"]).tolist(),
            "class_id": tf.make_ndarray(resp.outputs["class_id"]).tolist(),
            "version": resp.model_spec.version.value, "signature": resp.model_spec.signature_name}


def tf_serving(cfg, files, pixels):
    ch = grpc.insecure_channel(cfg["grpc"])
    stub = prediction_service_pb2_grpc.PredictionServiceStub(ch)
    out = {
        "bytes": tfs_predict(stub, cfg["model"], "serving_bytes", "image_bytes", tf.make_tensor_proto(files, dtype=tf.string)),
        "pixels": tfs_predict(stub, cfg["model"], "serving_default", "image", tf.make_tensor_proto(pixels, dtype=tf.float32)),
    }
    req = get_model_status_pb2.GetModelStatusRequest()
    req.model_spec.name = cfg["model"]
    st = model_service_pb2_grpc.ModelServiceStub(ch).GetModelStatus(req, timeout=60)
    out["status"] = [{"version": s.version, "state": get_model_status_pb2.ModelVersionStatus.State.Name(s.state),
                      "error_code": s.status.error_code} for s in st.model_version_status]
    req = get_model_metadata_pb2.GetModelMetadataRequest()
    req.model_spec.name = cfg["model"]
    req.metadata_field.append("signature_def")
    md = stub.GetModelMetadata(req, timeout=60)
    sigs = get_model_metadata_pb2.SignatureDefMap()
    md.metadata["signature_def"].Unpack(sigs)
    out["metadata"] = {"version": md.model_spec.version.value, "signatures": {
        name: {"inputs": {k: [tf.dtypes.as_dtype(v.dtype).name, [d.size for d in v.tensor_shape.dim]] for k, v in s.inputs.items()},
               "outputs": {k: [tf.dtypes.as_dtype(v.dtype).name, [d.size for d in v.tensor_shape.dim]] for k, v in s.outputs.items()}}
        for name, s in sigs.signature_def.items()}}
    try:
        stub.Classify(classification_pb2.ClassificationRequest(), timeout=60)
        out["classify"] = "OK"
    except grpc.RpcError as e:
        out["classify"] = e.code().name
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "nosuchmodel"
    req.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(files[:1], dtype=tf.string))
    try:
        stub.Predict(req, timeout=60)
        out["unknown_model"] = "OK"
    except grpc.RpcError as e:
        out["unknown_model"] = e.code().name
    return out


def triton(mod, url, cfg, files, pixels):
    c = mod.InferenceServerClient(url=url)
    model = cfg["model"]
    md = c.get_model_metadata(model)
    if not isinstance(md, dict):  # gRPC: a protobuf message
        md = {"name": md.name, "versions": list(md.versions), "platform": md.platform,
              "inputs": [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in md.inputs],
              "outputs": [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in md.outputs]}
    out = {"live": c.is_server_live(), "ready": c.is_server_ready(), "model_ready": c.is_model_ready(model), "metadata": md}

    def infer(name, dtype, data, binary):
        inp = mod.InferInput(name, list(data.shape), dtype)
        kw = {} if mod is tgrpc else {"binary_data": binary}
        inp.set_data_from_numpy(data, **kw)
        outs = [mod.InferRequestedOutput(n, **kw) for n in ("probabilities", "class_id")]
        r = c.infer(model, [inp], outputs=outs)
        return {"probabilities": r.as_numpy("probabilities").tolist(), "class_id": r.as_numpy("class_id").tolist(),
                "version": r.get_response()["model_version"] if mod is thttp else r.get_response().model_version}

    out["bytes"] = infer("image_bytes", "BYTES", np.array(files, dtype=np.object_), True)
    out["pixels"] = infer("image", "FP32", pixels, mod is tgrpc)  # HTTP: JSON data both ways
    # No outputs named: tritonclient's HTTP client asks for all in binary (binary_data_output).
    inp = mod.InferInput("image_bytes", [len(files)], "BYTES")
    inp.set_data_from_numpy(np.array(files, dtype=np.object_))
    out["default_outputs"] = c.infer(model, [inp]).as_numpy("probabilities").tolist()
    errs = {}
    for case, call in {
        "unknown_model": lambda: c.is_model_ready("nosuchmodel") or c.get_model_metadata("nosuchmodel"),
        "wrong_datatype": lambda: c.infer(model, [bad_input(mod, "image", "FP64", np.zeros([1, 2], np.float64))]),
        "wrong_shape": lambda: c.infer(model, [bad_input(mod, "image", "FP32", np.zeros([1, 5, 5, 3], np.float32))]),
        "unknown_version": lambda: c.infer(model, [inp], model_version="99"),
    }.items():
        try:
            call()
            errs[case] = ["OK", ""]
        except InferenceServerException as e:
            errs[case] = [str(e.status()), e.message()]
    out["errors"] = errs
    return out


def bad_input(mod, name, dtype, data):
    inp = mod.InferInput(name, list(data.shape), dtype)
    inp.set_data_from_numpy(data)
    return inp


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    files = []
    for p in cfg["files"]:
        with open(p, "rb") as f:
            files.append(f.read())
    s = cfg["size"]
    pixels = np.fromfile(cfg["pixels"], dtype="<f4").reshape(len(files), s, s, 3)
    out = {"tfserving": tf_serving(cfg, files, pixels),
           "v2http": triton(thttp, cfg["rest"], cfg, files, pixels),
           "v2grpc": triton(tgrpc, cfg["grpc"], cfg, files, pixels)}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
