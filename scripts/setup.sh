#!/usr/bin/env bash
# One-shot, idempotent set-up of a fresh machine: Debian packages, the pinned Python
# reference environment (.venv, which also carries TensorFlow's C library), the
# TensorFlow link directory cgo builds against, and the Go modules.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# Debian packages: a C and C++ toolchain for cgo, binutils for the nm check, libhdf5 (Keras
# weight files, tfgraph/weights) found through pkg-config, headless Chromium for the
# tests that open our pages in a real browser; Orthanc with its DICOMweb and web viewer
# plugins and dcmtk for the PACS tests (they start Orthanc themselves: the Debian service is
# not used); GDCM for compressed DICOM.
need_apt=()
for cmd in gcc:gcc g++:g++ nm:binutils pkg-config:pkg-config chromium:chromium Orthanc:orthanc dsrdump:dcmtk; do
  command -v "${cmd%%:*}" >/dev/null 2>&1 || need_apt+=("${cmd##*:}")
done
for plugin in DicomWeb:orthanc-dicomweb WebViewer:orthanc-webviewer; do
  [[ -e /usr/share/orthanc/plugins/libOrthanc${plugin%%:*}.so ]] || need_apt+=("${plugin##*:}")
done
pkg-config --exists hdf5 2>/dev/null || need_apt+=(libhdf5-dev)
# GDCM decodes compressed DICOM (internal/gdcm: JPEG lossless/extended, JPEG-LS through
# CharLS, JPEG 2000 through OpenJPEG, RLE); it pulls in libcharls and libopenjp2.
[[ -f /usr/include/gdcm-3.0/gdcmImage.h ]] || need_apt+=(libgdcm-dev)
if ((${#need_apt[@]})); then
  command -v apt-get >/dev/null || die "missing ${need_apt[*]} and no apt-get: install them by hand"
  say "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v go >/dev/null || die "Go is not installed (need Go 1.26): https://go.dev/doc/install"
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || die "python3 is not installed (needed once, for the TensorFlow wheel)"

# Python reference environment. A stamp of the requirement files keeps reruns instant.
stamp=.venv/.requirements.sha256
want=$(cat scripts/requirements.txt scripts/requirements-nodeps.txt | sha256sum | cut -d' ' -f1)
if [[ ! -x .venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  say "creating .venv (TensorFlow 2.18 wheel, Keras reference tools) — a few minutes"
  "$PY" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -r scripts/requirements-nodeps.txt
  echo "$want" > "$stamp"
fi

# The TensorFlow C library from the wheel, laid out as an official libtensorflow directory.
if [[ -z ${TENSORFLOW_DIR:-} ]]; then
  wheel_tf=$(.venv/bin/python -c 'import os, tensorflow; print(os.path.dirname(tensorflow.__file__))' 2>/dev/null) \
    || die ".venv has no importable tensorflow; delete .venv and rerun scripts/setup.sh"
  scripts/link-tensorflow.sh "$wheel_tf" .tf
else
  say "using TENSORFLOW_DIR=$TENSORFLOW_DIR"
fi

say "downloading Go modules"
go mod download
say "done: TensorFlow C library in ${TENSORFLOW_DIR:-.tf}"
