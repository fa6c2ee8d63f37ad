#!/usr/bin/env bash
# Build llama.cpp's `llama-server` and `llama-quantize` (those targets only) from the pinned llama-cpp-python sdist,
# whose vendor/ folder carries the whole llama.cpp source. Source and binary are cached outside the repository and reused; the binary's
# path is printed last. tests/test_llama_server.py finds it there (or at $PANACEA_LLAMA_SERVER;
# benchmarks/llama_server_speed.py uses llama-quantize beside it).
# Needs cmake, a C++ compiler and PyPI; about 10 CPU-minutes.
set -euo pipefail
VERSION=0.3.36
CACHE="${PEFT_PANACEA_CACHE:-$HOME/.cache/peft_panacea}"  # peft_panacea's cache folder
SRC="$CACHE/llama-server-src"
BUILD="$CACHE/llama-server-build"
LLAMA_CPP="$SRC/llama_cpp_python-$VERSION/vendor/llama.cpp"
if [ ! -f "$LLAMA_CPP/CMakeLists.txt" ]; then
    mkdir -p "$SRC"
    python3 -m pip download --quiet --no-binary :all: --no-deps "llama-cpp-python==$VERSION" -d "$SRC"
    tar -xzf "$SRC/llama_cpp_python-$VERSION.tar.gz" -C "$SRC"
fi
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    generator=()
    command -v ninja >/dev/null && generator=(-G Ninja)
    cmake -S "$LLAMA_CPP" -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON
fi
if [ ! -x "$BUILD/bin/llama-server" ] || [ ! -x "$BUILD/bin/llama-quantize" ]; then
    cmake --build "$BUILD" --target llama-server llama-quantize -j "${JOBS:-$(nproc)}"
fi
echo "$BUILD/bin/llama-server"
