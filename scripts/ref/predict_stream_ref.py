"""Python reference for bench/predict-stream: what a Python user scoring an archive does.

usage: predict_stream_ref.py SAVEDMODEL_DIR LIST.txt OUT.jsonl BATCH

Loads the SavedModel with tf.saved_model.load, reads the files listed (one path per line)
BATCH at a time, runs the serving_bytes signature on each batch (the preprocessing in the
graph) and appends one JSON line per file, {"file", "probabilities"}, flushed per batch.
Timed whole process by the benchmark, TensorFlow's import included as xray's start-up is.
"""
import json
import sys

import tensorflow as tf


def main(argv):
    model_dir, list_path, out_path, batch = argv[0], argv[1], argv[2], int(argv[3])
    f = tf.saved_model.load(model_dir).signatures["serving_bytes"]
    with open(list_path) as lst:
        files = [l.strip() for l in lst if l.strip()]
    with open(out_path, "w") as out:
        for i in range(0, len(files), batch):
            chunk = files[i:i + batch]
            data = [tf.io.read_file(p) for p in chunk]
            r = f(image_bytes=tf.stack(data))
            for p, probs in zip(chunk, r["probabilities"].numpy().tolist()):
                out.write(json.dumps({"file": p, "probabilities": probs}) + "\n")
            out.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
