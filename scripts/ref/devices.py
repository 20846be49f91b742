"""Reference for internal/devices: what Python TensorFlow (the same 2.18 library) says about
the build, the local devices and the registered kernels of the op types given as arguments.

Prints JSON: {"is_cuda_build": bool, "devices": [{"name", "type", "memory_bytes"}],
"kernels": {op: [[device_type, label, "attr=DT_A,DT_B", ...], ...]}}.
"""
import json
import sys

import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.python.client import device_lib
from tensorflow.python.framework import kernels


def kernel_rows(op):
    rows = []
    for k in kernels.get_registered_kernels_for_op(op).kernel:
        cons = sorted(
            c.name + "=" + ",".join(sorted(types_pb2.DataType.Name(t) for t in c.allowed_values.list.type))
            for c in k.constraint
        )
        rows.append([k.device_type, k.label] + cons)
    return sorted(rows)


def main():
    out = {
        "is_cuda_build": tf.test.is_built_with_cuda(),
        "devices": [
            {"name": d.name, "type": d.device_type, "memory_bytes": d.memory_limit}
            for d in device_lib.list_local_devices()
        ],
        "kernels": {op: kernel_rows(op) for op in sys.argv[1:]},
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
