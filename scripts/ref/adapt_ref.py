"""Reference for `xray adapt` (savedmodels.Adapt): the same BatchNormalization statistics
computed in Python TensorFlow from the same SavedModel and image files.

    python adapt_ref.py CONFIG.json OUT.json
    python adapt_ref.py --bench SRC LIST.txt OUT_DIR BATCH     (bench/adapt's Python side)

CONFIG holds a list of "jobs", each
    {"src": SavedModel dir, "pixels": raw float32 file, "images": N, "size": S,
     "mode": "layerwise"|"batch", "batch_size": B,
     "dump": [SavedModel dirs], "predict": [SavedModel dirs], "compare": [SavedModel dirs]}

The pixels are the N images [N, S, S, 3] as the model's preprocessing (package
preprocess, what Adapt feeds) made them: serving_bytes's in-graph scaling differs from
it in the last bit of a third of the pixels, which 28 layers of a random network amplify
past the comparison's tolerance, so both sides start from the same bits.
For each job the SavedModel is loaded with TensorFlow's own loader (tf.compat.v1, the
graph and its variables as saved), the pixels are fed to serving_default's input, and
the layers are found by their Keras names
("<layer>/moving_mean" variables, "<layer>/mul_x/Mul" reading the layer input), in the
order of the variables collection (network order). Layerwise: one layer at a time, its
input fetched for every image with the layers before it already replaced; mean and
biased variance over images and positions in float64 (numpy, on all values at once),
stored as float32. Batch: per batch (the same even split as Go's), each layer in turn is
set to that batch's statistics, so the next one sees the batch normalised by its own
statistics; the batch statistics are pooled over batches.
A layer's input, once fetched, is final (it depends only on the layers before it, all
replaced by then), so later fetches feed the fetched inputs they depend on instead of
running the network from the image again: one layer per step still, at the cost of
about one forward pass in all.

Output per job: "layers" (names in order), "passes" (the depth in layers: Go's passes
in layerwise mode), "reference" {layer: [mean, variance]} (float32
values as float64), "predictions" (serving_default probabilities of the reference-adapted
model), for every "dump" dir its checkpoint's moving statistics, and for every "predict"
dir (also dumped) the probabilities of tf.saved_model.load(dir).signatures
["serving_default"]; for every "compare" dir, the names of the variables other than
moving statistics whose values are not bit-identical to src's, and how many were compared.
"""

import json
import sys

import numpy as np
import tensorflow as tf


def batch_sizes(n, per):
    k = (n + per - 1) // per
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def chunks(files, per):
    """The images in Go's batches: the same activations bit for bit (a convolution's
    rounding may depend on the batch it runs in)."""
    out, start = [], 0
    for k in batch_sizes(len(files), per):
        out.append(files[start : start + k])
        start += k
    return out


def load_model(src):
    """src's serving_default input and probabilities in a session of TensorFlow's own
    SavedModel loader (the graph and variables as saved, as TF Serving runs them)."""
    g = tf.Graph()
    sess = tf.compat.v1.Session(graph=g)
    with g.as_default():
        mg = tf.compat.v1.saved_model.loader.load(sess, ["serve"], src)
        sig = mg.signature_def["serving_default"]
        feed = g.get_tensor_by_name(sig.inputs["image"].name)
        probs = g.get_tensor_by_name(sig.outputs["probabilities"].name)
    return sess, feed, probs


def load(src):
    sess, feed, probs = load_model(src)
    layers, assign = load_into(sess.graph)
    return sess, feed, probs, layers, assign


def predict(sess, feed, probs, files, per):
    return np.concatenate([sess.run(probs, {feed: c}) for c in chunks(files, per)]).tolist()


def stats(x):
    x = x.reshape(-1, x.shape[-1]).astype(np.float64)
    m = x.mean(axis=0)
    return m, ((x - m) ** 2).mean(axis=0), x.shape[0]


def upstream(x, known):
    """The tensors of known that x is computed from without passing through another one."""
    need, seen, stack = [], {x.op}, [x.op]
    while stack:
        for t in stack.pop().inputs:
            if t in known:
                if t not in need:
                    need.append(t)
            elif t.op not in seen:
                seen.add(t.op)
                stack.append(t.op)
    return need


def fetch(sess, feed, x, chunk, known, i):
    """x for the images of chunk i, fed the final values of the inputs it depends on."""
    if x in known:
        return known[x][i]
    feeds = {feed: chunk}
    feeds.update({t: known[t][i] for t in upstream(x, known)})
    return sess.run(x, feeds)


def layerwise(sess, feed, layers, assign, files, per):
    out, known = {}, {}
    for layer in layers:
        x, pm, pv, op = assign[layer]
        vals = [fetch(sess, feed, x, c, known, i) for i, c in enumerate(chunks(files, per))]
        known[x] = vals
        m, v, _ = stats(np.concatenate(vals))
        m, v = m.astype(np.float32), v.astype(np.float32)
        sess.run(op, {pm: m, pv: v})
        out[layer] = [m.tolist(), v.tolist()]
    return out


def batch(sess, feed, layers, assign, files, per):
    pooled = {layer: [] for layer in layers}
    for chunk in chunks(files, per):
        known = {}
        for layer in layers:
            x, pm, pv, op = assign[layer]
            known[x] = [fetch(sess, feed, x, chunk, known, 0)]
            m, v, n = stats(known[x][0])
            sess.run(op, {pm: m.astype(np.float32), pv: v.astype(np.float32)})
            pooled[layer].append((n, m, v))
    out = {}
    for layer in layers:
        n = sum(p[0] for p in pooled[layer])
        m = sum(p[0] * p[1] for p in pooled[layer]) / n
        v = sum(p[0] * (p[2] + (p[1] - m) ** 2) for p in pooled[layer]) / n
        m, v = m.astype(np.float32), v.astype(np.float32)
        x, pm, pv, op = assign[layer]
        sess.run(op, {pm: m, pv: v})
        out[layer] = [m.tolist(), v.tolist()]
    return out


def passes(g, layers, assign):
    """How many passes Go's grouping needs: the longest chain of layers each reading
    (through its input) the moving statistics of the one before. reads[op] is the set of
    layers (a bit mask) whose moving_mean op is among op's ancestors, the ops taken in
    creation order (import order, inputs first)."""
    bit = {layer + "/moving_mean": 1 << i for i, layer in enumerate(layers)}
    reads = {}
    for op in g.get_operations():
        m = bit.get(op.name, 0)
        for t in op.inputs:
            m |= reads[t.op.name]  # a KeyError if the order were not inputs first
        reads[op.name] = m
    level = []
    for layer in layers:
        m = reads[assign[layer][0].op.name]
        level.append(1 + max((level[j] for j in range(len(level)) if m >> j & 1), default=-1))
    return 1 + max(level)


def checkpoint(d):
    r = tf.train.load_checkpoint(d + "/variables/variables")
    return {k: r.get_tensor(k) for k in r.get_variable_to_shape_map()}


def is_stat(name):
    return name.endswith("/moving_mean") or name.endswith("/moving_variance")


def run(job):
    s = job["size"]
    files = np.fromfile(job["pixels"], dtype="<f4").reshape(job["images"], s, s, 3)
    per = job.get("batch_size", 32)
    sess, feed, probs, layers, assign = load(job["src"])
    fn = batch if job["mode"] == "batch" else layerwise
    res = {"layers": layers, "passes": passes(sess.graph, layers, assign), "reference": fn(sess, feed, layers, assign, files, per)}
    res["predictions"] = predict(sess, feed, probs, files, per)
    res["dump"] = {}
    for d in (job.get("dump") or []) + (job.get("predict") or []):
        ck = checkpoint(d)
        res["dump"][d] = {"stats": {l: [ck[l + "/moving_mean"].tolist(), ck[l + "/moving_variance"].tolist()] for l in layers}}
    for d in job.get("predict") or []:
        res["dump"][d]["predictions"] = predict(*load_model(d), files, per)
    res["compare"] = {}
    if job.get("compare"):
        src = checkpoint(job["src"])
        for d in job["compare"]:
            ck = checkpoint(d)
            diff = sorted(k for k in src if not is_stat(k) and (k not in ck or src[k].tobytes() != ck[k].tobytes()))
            diff += sorted(k for k in ck if k not in src)
            res["compare"][d] = {"differ": diff, "compared": sum(1 for k in src if not is_stat(k))}
    return res


def bench(src, listfile, out, per):
    """bench/adapt's Python side: what a Python user would write for the same layerwise
    adaptation. The files go once through serving_bytes's preprocessing into memory; each
    layer streams the batches with float64 accumulators; the saver writes out/variables
    and saved_model.pb is copied."""
    import os
    import shutil

    files = [open(p.strip(), "rb").read() for p in open(listfile) if p.strip()]
    g = tf.Graph()
    sess = tf.compat.v1.Session(graph=g)
    with g.as_default():
        mg = tf.compat.v1.saved_model.loader.load(sess, ["serve"], src)
        bytes_in = g.get_tensor_by_name(mg.signature_def["serving_bytes"].inputs["image_bytes"].name)
        image = g.get_tensor_by_name(mg.signature_def["serving_default"].inputs["image"].name)
    layers, assign = load_into(g)
    pixels = np.concatenate([sess.run(image, {bytes_in: c}) for c in chunks(files, per)])
    for layer in layers:
        x, pm, pv, op = assign[layer]
        n, mean, m2 = 0, None, None
        for i in range(0, len(pixels), per):
            v = sess.run(x, {image: pixels[i : i + per]})
            v = v.reshape(-1, v.shape[-1]).astype(np.float64)
            k, bm = v.shape[0], v.mean(axis=0)
            bm2 = ((v - bm) ** 2).sum(axis=0)
            if n == 0:
                mean, m2 = bm, bm2
            else:  # Chan et al.'s merge, as Go's
                d = bm - mean
                mean, m2 = mean + d * k / (n + k), m2 + bm2 + d * d * n * k / (n + k)
            n += k
        sess.run(op, {pm: mean.astype(np.float32), pv: (m2 / n).astype(np.float32)})
    os.makedirs(out + "/variables")
    sd = mg.saver_def  # the SavedModel's own saver ops
    sess.run(sd.save_tensor_name, {sd.filename_tensor_name: out + "/variables/variables"})
    shutil.copy(src + "/saved_model.pb", out)


def load_into(g):
    """The BatchNormalization layers by Keras name, in the variables' order, each with its
    input tensor and ops assigning its moving statistics."""
    layers, assign = [], {}
    with g.as_default():
        for v in g.get_collection("variables"):
            name = v.name[: -len(":0")]
            if name.endswith("/moving_mean"):
                layer = name[: -len("/moving_mean")]
                var = [w for w in g.get_collection("variables") if w.name == layer + "/moving_variance:0"][0]
                x = g.get_tensor_by_name(layer + "/mul_x/Mul:0").op.inputs[0]
                pm = tf.compat.v1.placeholder(tf.float32, v.shape)
                pv = tf.compat.v1.placeholder(tf.float32, var.shape)
                layers.append(layer)
                assign[layer] = (x, pm, pv, tf.group(v.assign(pm), var.assign(pv)))
    return layers, assign


def main():
    if sys.argv[1] == "--bench":
        bench(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    cfg = json.load(open(sys.argv[1]))
    json.dump({"jobs": [run(j) for j in cfg["jobs"]]}, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
