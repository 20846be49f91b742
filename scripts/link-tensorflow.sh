#!/usr/bin/env bash
# link-tensorflow.sh PYTHON_TF_DIR OUT_DIR
# Lays out TensorFlow's C library from a pip-installed `tensorflow` package (the PyPI wheel,
# or the TensorFlow GPU Docker image) the way an official libtensorflow archive is laid out:
#   OUT_DIR/lib/libtensorflow.so, libtensorflow_cc.so.2, libtensorflow_framework.so.2
#   OUT_DIR/include/tensorflow/c/*.h
# so one build setting, TENSORFLOW_DIR=OUT_DIR, serves all three sources.
set -euo pipefail
src=${1:?usage: link-tensorflow.sh PYTHON_TF_DIR OUT_DIR}
out=${2:?usage: link-tensorflow.sh PYTHON_TF_DIR OUT_DIR}
src=$(cd "$src" && pwd -P)
for f in libtensorflow_cc.so.2 libtensorflow_framework.so.2 include/tensorflow/c/c_api.h; do
  [[ -e $src/$f ]] || { echo "link-tensorflow: $src/$f missing: not a TensorFlow 2.x package directory" >&2; exit 1; }
done
# The C API must be exported by the library we link (it is, from libtensorflow_cc in 2.x wheels).
if command -v nm >/dev/null; then
  n=$(nm -D --defined-only "$src/libtensorflow_cc.so.2" | grep -cE ' T (TF_NewSession|TF_AddGradients|TF_LoadSessionFromSavedModel|TF_Version)(@|$)' || true)
  [[ $n -ge 4 ]] || { echo "link-tensorflow: $src/libtensorflow_cc.so.2 does not export the TF_* C API (found $n of 4 symbols)" >&2; exit 1; }
fi
mkdir -p "$out/lib"
ln -sfn "$src/include" "$out/include"
ln -sfn "$src/libtensorflow_cc.so.2" "$out/lib/libtensorflow_cc.so.2"
ln -sfn "$src/libtensorflow_framework.so.2" "$out/lib/libtensorflow_framework.so.2"
ln -sfn libtensorflow_cc.so.2 "$out/lib/libtensorflow.so"
ln -sfn libtensorflow_framework.so.2 "$out/lib/libtensorflow_framework.so"
echo "link-tensorflow: $out -> $src"
