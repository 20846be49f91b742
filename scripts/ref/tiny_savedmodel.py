"""Writes a tiny TF2 SavedModel: serving_default(x: float32[-1,2]) -> {"y": x @ w + b}.

Used by the single-binding test (tfgo loads it in the same process where graft builds
graphs). Usage: tiny_savedmodel.py OUT_DIR
"""
import sys

import tensorflow as tf


class Tiny(tf.Module):
    def __init__(self):
        self.w = tf.Variable([[1.0, 2.0], [3.0, 4.0]], name="w")
        self.b = tf.Variable([0.5, -0.5], name="b")

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def serve(self, x):
        return {"y": tf.matmul(x, self.w) + self.b}


m = Tiny()
tf.saved_model.save(m, sys.argv[1], signatures={"serving_default": m.serve})
