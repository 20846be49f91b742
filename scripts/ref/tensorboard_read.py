"""Reads back every event file under a log directory with the tensorboard package, for
internal/tensorboard's test: each record's framing is checked against tensorboard's own
masked CRC32C, then TensorBoard's EventAccumulator (what `tensorboard --logdir` uses)
loads the scalars.

  tensorboard_read.py LOGDIR

Prints JSON: {"<run>": {"<tag>": [[step, value], ...]}, "_records": N}, where <run> is
the event file's directory relative to LOGDIR ("." for LOGDIR itself).
"""

import json
import os
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c


def check_framing(path):
    n = 0
    with open(path, "rb") as f:
        data = f.read()
    i = 0
    while i < len(data):
        header = data[i : i + 8]
        (length,) = struct.unpack("<Q", header)
        (crc,) = struct.unpack("<I", data[i + 8 : i + 12])
        if crc != masked_crc32c(header):
            raise SystemExit(f"{path}: record {n}: length CRC mismatch")
        body = data[i + 12 : i + 12 + length]
        (crc,) = struct.unpack("<I", data[i + 12 + length : i + 16 + length])
        if len(body) != length or crc != masked_crc32c(body):
            raise SystemExit(f"{path}: record {n}: data CRC mismatch or truncated")
        i += 16 + length
        n += 1
    return n


def main():
    logdir = sys.argv[1]
    out = {"_records": 0}
    for root, _, files in sorted(os.walk(logdir)):
        events = sorted(f for f in files if "tfevents" in f)
        if not events:
            continue
        for f in events:
            out["_records"] += check_framing(os.path.join(root, f))
        acc = event_accumulator.EventAccumulator(root, size_guidance={event_accumulator.SCALARS: 0})
        acc.Reload()
        run = os.path.relpath(root, logdir)
        out[run] = {tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
