"""Python reference server for bench/serve: TensorFlow Serving's REST predict over an xray
SavedModel's serving_bytes signature, with the same batching limits as `xray serve`.

usage: serve_ref.py SAVEDMODEL_DIR MAX_BATCH MAX_DELAY_MS

A ThreadingHTTPServer on 127.0.0.1 (an ephemeral port) answers
  POST /v1/models/xray:predict  {"signature_name": "serving_bytes", "instances": [{"b64": ...}, ...]}
with {"predictions": [{"probabilities": [...], "class_id": k}, ...]}; errors {"error": ...}.
Request threads decode the JSON and base64 and queue the files; one batching thread
gathers up to MAX_BATCH files, waiting at most MAX_DELAY_MS after the first, and runs
serving_bytes once for them (preprocessing in the graph), as `xray serve` batches across
requests. After one warm-up run it prints "PORT <n>" on stdout; it stops on SIGTERM.
"""
import base64
import json
import queue
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import tensorflow as tf


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
            if self.path != "/v1/models/xray:predict":
                return self.reply(404, {"error": "no route"})
            try:
                req = json.loads(body)
                files = [base64.b64decode(x["b64"]) for x in req["instances"]]
            except Exception as e:  # noqa: BLE001
                return self.reply(400, {"error": str(e)})
            job = Job(files)
            jobs.put(job)
            job.done.wait()
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
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    print("PORT", srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
