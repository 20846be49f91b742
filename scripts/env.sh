# Source this to build and test with plain `go` commands outside make:
#   source scripts/env.sh && go test ./tfgraph/...
# It sets the same variables as the Makefile from TENSORFLOW_DIR (default: .tf).
_xray_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_tf=$(cd "${TENSORFLOW_DIR:-$_xray_root/.tf}" 2>/dev/null && pwd) || { echo "env.sh: no TensorFlow dir; run scripts/setup.sh" >&2; return 1; }
export CGO_ENABLED=1
export CGO_CFLAGS="-I$_tf/include"
export CGO_LDFLAGS="-L$_tf/lib -Wl,-rpath,$_tf/lib"
export XRAY_PYTHON="${XRAY_PYTHON:-$_xray_root/.venv/bin/python}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
unset _tf _xray_root
