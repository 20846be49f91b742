"""Python reference server for bench/serve: TensorFlow Serving's REST predict and gRPC
Predict, and the Open Inference Protocol's (v2) REST and gRPC infer, over an xray
SavedModel's serving_bytes signature, with the same batching limits as `xray serve`.

usage: serve_ref.py SAVEDMODEL_DIR MAX_BATCH MAX_DELAY_MS

A ThreadingHTTPServer on 127.0.0.1 (an ephemeral port) answers
  POST /v1/models/xray:predict  {"signature_name": "serving_bytes", "instances": [{"b64": ...}, ...]}
with {"predictions": [{"probabilities": [...], "class_id": k}, ...]}, and
  POST /v2/models/xray/infer    one BYTES input "image_bytes" in Triton's binary tensor data
with the outputs as JSON data; errors {"error": ...}. A grpcio server (64 threads) on
another port answers tensorflow.serving.PredictionService/Predict (image_bytes DT_STRING
to serving_bytes; the stubs of tensorflow-serving-api) and
inference.GRPCInferenceService/ModelInfer (raw_input_contents; tritonclient's stubs).
Request threads decode and queue the files; one batching thread gathers up to MAX_BATCH
files, waiting at most MAX_DELAY_MS after the first, and runs serving_bytes once for them
(preprocessing in the graph), as `xray serve` batches across requests. After one warm-up
run it prints "PORT <http> <grpc>" on stdout; it stops on SIGTERM.
"""
import base64
import json
import queue
import signal
import struct
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc


class Job:
    def __init__(self, files):
        self.files = files
        self.done = threading.Event()
        self.result = None
        self.error = None


def batcher(fn, jobs, max_batch, max_delay):
    while True:
        first = jobs.get()
        batch, n = [first], len(first.files)
        deadline = time.perf_counter() + max_delay
        while n < max_batch:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            try:
                j = jobs.get(timeout=left)
            except queue.Empty:
                break
            batch.append(j)
            n += len(j.files)
        files = [f for j in batch for f in j.files]
        try:
            out = fn(image_bytes=tf.constant(files, dtype=tf.string))
            probs, cls = out["probabilities"].numpy(), out["class_id"].numpy()
            k = 0
            for j in batch:
                m = len(j.files)
                j.result = [{"probabilities": probs[i].tolist(), "class_id": int(cls[i])} for i in range(k, k + m)]
                k += m
        except Exception as e:  # noqa: BLE001 - the error goes back to every request
            for j in batch:
                j.error = str(e).splitlines()[0]
        for j in batch:
            j.done.set()


def run_job(jobs, files):
    job = Job(files)
    jobs.put(job)
    job.done.wait()
    return job


def bytes_elements(raw):
    """Triton's BYTES binary form: a 4-byte little-endian length before each element."""
    out, i = [], 0
    while i < len(raw):
        (n,) = struct.unpack_from("<I", raw, i)
        out.append(raw[i + 4:i + 4 + n])
        i += 4 + n
    return out


def v2_infer(jobs, body, header_len):
    head = json.loads(body[:header_len])
    inp = head["inputs"][0]
    files = bytes_elements(body[header_len:header_len + inp["parameters"]["binary_data_size"]])
    job = run_job(jobs, files)
    if job.error:
        raise ValueError(job.error)
    probs = [r["probabilities"] for r in job.result]
    ids = [r["class_id"] for r in job.result]
    return {"model_name": "xray", "model_version": "1", "outputs": [
        {"name": "probabilities", "datatype": "FP32", "shape": [len(probs), len(probs[0])], "data": [p for row in probs for p in row]},
        {"name": "class_id", "datatype": "INT64", "shape": [len(ids)], "data": ids}]}


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, jobs):
        self.jobs = jobs

    def Predict(self, request, context):
        job = run_job(self.jobs, list(request.inputs["image_bytes"].string_val))
        if job.error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, job.error)
        resp = predict_pb2.PredictResponse()
        resp.model_spec.name = request.model_spec.name
        resp.outputs["probabilities"].CopyFrom(tf.make_tensor_proto(np.array([r["probabilities"] for r in job.result], np.float32)))
        resp.outputs["class_id"].CopyFrom(tf.make_tensor_proto(np.array([r["class_id"] for r in job.result], np.int64)))
        return resp


class InferenceService(service_pb2_grpc.GRPCInferenceServiceServicer):
    def __init__(self, jobs):
        self.jobs = jobs

    def ModelInfer(self, request, context):
        job = run_job(self.jobs, bytes_elements(request.raw_input_contents[0]))
        if job.error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, job.error)
        probs = np.array([r["probabilities"] for r in job.result], np.float32)
        ids = np.array([r["class_id"] for r in job.result], np.int64)
        resp = service_pb2.ModelInferResponse(model_name=request.model_name, model_version="1")
        for name, dt, a in (("probabilities", "FP32", probs), ("class_id", "INT64", ids)):
            resp.outputs.add(name=name, datatype=dt, shape=list(a.shape))
            resp.raw_output_contents.append(a.tobytes())
        return resp


def handler(jobs):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/v2/models/xray/infer":
                try:
                    return self.reply(200, v2_infer(jobs, body, int(self.headers["Inference-Header-Content-Length"])))
                except Exception as e:  # noqa: BLE001
                    return self.reply(400, {"error": str(e)})
            if self.path != "/v1/models/xray:predict":
                return self.reply(404, {"error": "no route"})
            try:
                req = json.loads(body)
                files = [base64.b64decode(x["b64"]) for x in req["instances"]]
            except Exception as e:  # noqa: BLE001
                return self.reply(400, {"error": str(e)})
            job = run_job(jobs, files)
            if job.error:
                return self.reply(400, {"error": job.error})
            self.reply(200, {"predictions": job.result})

    return H


def main():
    model_dir, max_batch, max_delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) / 1000
    fn = tf.saved_model.load(model_dir).signatures["serving_bytes"]
    jobs = queue.Queue()
    threading.Thread(target=batcher, args=(fn, jobs, max_batch, max_delay), daemon=True).start()
    ThreadingHTTPServer.request_queue_size = 256  # the default backlog of 5 resets 32 clients
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler(jobs))
    srv.daemon_threads = True
    # Warm-up: one run of the signature on a tiny PNG, so the first request is not a trace.
    png = tf.io.encode_png(tf.zeros([8, 8, 3], tf.uint8)).numpy()
    fn(image_bytes=tf.constant([png]))
    gsrv = grpc.server(futures.ThreadPoolExecutor(max_workers=64),
                       options=[("grpc.max_receive_message_length", 20 << 20)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(jobs), gsrv)
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceService(jobs), gsrv)
    gport = gsrv.add_insecure_port("127.0.0.1:0")
    gsrv.start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    print("PORT", srv.server_address[1], gport, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
