"""Writes Keras weight files with random weights in every layout xray reads, plus an
input batch and the outputs Keras computes from them, for tfgraph/weights' tests.

Usage: weights_keras.py ARCH INPUT_SIZE OUT_DIR [base]   (ARCH: mobilenet|xception|inceptionv3)
With "base", only x.npy, k2_base.h5 and k2_base_features.npy are written (then done).

OUT_DIR receives:
  x.npy                     float32 [2, S, S, 3] input batch in [0, 1]
  k2_base.h5                tf_keras backbone, save_weights: the legacy layout of the
                            ImageNet "no top" files
  k2_base_imagenet.h5       the same with the attributes stored as fixed-length byte
                            strings, as the h5py 2 / Keras 2.0 era ImageNet files store them
  k2_base_features.npy      the backbone's output on x
  k2_full.h5                tf_keras paper model (backbone + head), model.save
  k2_full_features.npy, k2_full_probs.npy
  k2_nested.h5              the same weights in a tf_keras model whose backbone is a nested
                            model (one layer group in the file), model.save
  k2_nested_probs.npy
  k3_full.weights.h5        keras 3 paper model as one functional graph, save_weights
  k3_full_features.npy, k3_full_probs.npy
  k3_nested.keras           keras 3 paper model with the backbone as a nested model,
                            compiled and trained one SGD step (so the archive also holds
                            optimizer state), model.save
  k3_nested_features.npy, k3_nested_probs.npy
  layers.txt                the tf_keras full model's layers with weights, in order
  done                      written last
Weights are random (BatchNormalization statistics too), so a swapped or misplaced tensor
changes the outputs. The head is the paper's: 4x4 average pooling, Flatten, Dense 1024,
512, 256, 128, 64, 32 (ReLU), BatchNormalization, Dense 2 softmax.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
import tf_keras  # noqa: E402

arch, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
base_only = sys.argv[4:] == ["base"]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(20211118)
keras.utils.set_random_seed(7)
tf_keras.utils.set_random_seed(7)

APPS = {
    "mobilenet": ("MobileNet", {}),
    "xception": ("Xception", {}),
    "inceptionv3": ("InceptionV3", {}),
}
cls_name, kwargs = APPS[arch]
shape = (size, size, 3)
x = rng.uniform(0.0, 1.0, size=(2,) + shape).astype("float32")
np.save(os.path.join(out, "x.npy"), x)


def randomize(model):
    """Random values for every weight; kernels keep their (random) Glorot init."""
    for w in model.weights:
        name = w.name if ":" not in w.name else w.name.split(":")[0]
        name = name.split("/")[-1]
        n = tuple(w.shape)
        if name in ("gamma", "moving_variance"):
            w.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
        elif name in ("beta", "moving_mean", "bias"):
            w.assign(rng.uniform(-0.2, 0.2, n).astype("float32"))


def head(lib, x):
    x = lib.layers.AveragePooling2D((4, 4))(x)
    x = lib.layers.Flatten()(x)
    for units in (1024, 512, 256, 128, 64, 32):
        x = lib.layers.Dense(units, activation="relu")(x)
    x = lib.layers.BatchNormalization()(x)
    return lib.layers.Dense(2, activation="softmax")(x)


def save(name, a):
    np.save(os.path.join(out, name), np.asarray(a, dtype="float32"))


# --- tf_keras (Keras 2): legacy layouts -----------------------------------------------
base2 = getattr(tf_keras.applications, cls_name)(include_top=False, weights=None, input_shape=shape, **kwargs)
full2 = tf_keras.Model(base2.input, head(tf_keras, base2.output))
randomize(full2)
base2.save_weights(os.path.join(out, "k2_base.h5"))
save("k2_base_features.npy", base2(x, training=False))
if base_only:
    open(os.path.join(out, "done"), "w").write("ok\n")
    sys.exit(0)
full2.save(os.path.join(out, "k2_full.h5"))
save("k2_full_features.npy", base2(x, training=False))
save("k2_full_probs.npy", full2(x, training=False))
# The same weights in a model whose backbone is one nested layer (Sequential-style
# transfer learning): the legacy file then stores the backbone as one group.
inp2 = tf_keras.Input(shape)
nested2 = tf_keras.Model(inp2, head(tf_keras, base2(inp2)))
nested2.set_weights(full2.get_weights())
nested2.save(os.path.join(out, "k2_nested.h5"))
save("k2_nested_probs.npy", nested2(x, training=False))
with open(os.path.join(out, "layers.txt"), "w") as f:
    for layer in full2.layers:
        if layer.weights:
            f.write(layer.name + " " + " ".join(w.name for w in layer.weights) + "\n")

# The ImageNet files predate h5py 3: their string attributes are fixed-length byte
# strings, not variable-length str. Rewrite a copy that way.
src = os.path.join(out, "k2_base.h5")
dst = os.path.join(out, "k2_base_imagenet.h5")
with h5py.File(src, "r") as fi, h5py.File(dst, "w") as fo:
    def fixed(v):
        if isinstance(v, str):
            return np.bytes_(v.encode())
        if isinstance(v, np.ndarray) and v.dtype == object:
            return np.array([s.encode() if isinstance(s, str) else s for s in v])
        return v
    for k, v in fi.attrs.items():
        fo.attrs[k] = fixed(v)
    for lname in fi:
        g = fo.create_group(lname)
        for k, v in fi[lname].attrs.items():
            g.attrs[k] = fixed(v)
        def copy(name, obj, g=g):
            if isinstance(obj, h5py.Dataset):
                g.create_dataset(name, data=obj[()])
        fi[lname].visititems(copy)

# --- keras 3: .weights.h5 (one functional graph) and .keras (nested base) ------------
base3 = getattr(keras.applications, cls_name)(include_top=False, weights=None, input_shape=shape, **kwargs)
full3 = keras.Model(base3.input, head(keras, base3.output))
randomize(full3)
full3.save_weights(os.path.join(out, "k3_full.weights.h5"))
save("k3_full_features.npy", base3(x, training=False))
save("k3_full_probs.npy", full3(x, training=False))

base3n = getattr(keras.applications, cls_name)(include_top=False, weights=None, input_shape=shape, **kwargs)
inp = keras.Input(shape)
nested = keras.Model(inp, head(keras, base3n(inp)))
randomize(nested)
nested.compile(optimizer=keras.optimizers.SGD(0.001), loss="categorical_crossentropy")
nested.fit(x, np.eye(2, dtype="float32")[[0, 1]], batch_size=2, epochs=1, verbose=0)
nested.save(os.path.join(out, "k3_nested.keras"))
save("k3_nested_features.npy", base3n(x, training=False))
save("k3_nested_probs.npy", nested(x, training=False))

open(os.path.join(out, "done"), "w").write("ok\n")
