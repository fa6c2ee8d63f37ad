"""A local llama.cpp: its source tree (for ``convert_hf_to_gguf.py``) and a built ``llama-server``, found where
``scripts/build_llama_server.sh`` caches them or where environment variables say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .._cache import cache_root

SOURCE_ENV = "PANACEA_LLAMA_CPP_DIR"
SERVER_ENV = "PANACEA_LLAMA_SERVER"
SDIST_VERSION = "0.3.36"  # the llama-cpp-python sdist the build script unpacks (its vendor/ holds llama.cpp)
BUILD_HINT = "run scripts/build_llama_server.sh"


def llama_cpp_source() -> Path | None:
    """``$PANACEA_LLAMA_CPP_DIR``, else the build script's unpacked source, or None."""
    if os.environ.get(SOURCE_ENV):
        return Path(os.environ[SOURCE_ENV])
    tree = cache_root() / "llama-server-src" / f"llama_cpp_python-{SDIST_VERSION}" / "vendor" / "llama.cpp"
    return tree if (tree / "convert_hf_to_gguf.py").is_file() else None


def llama_server_binary() -> Path | None:
    """``$PANACEA_LLAMA_SERVER``, else the build script's cached binary, or None."""
    if os.environ.get(SERVER_ENV):
        return Path(os.environ[SERVER_ENV])
    binary = cache_root() / "llama-server-build" / "bin" / "llama-server"
    return binary if binary.is_file() else None


def convert_checkpoint(model_dir: str | Path, out_file: str | Path, outtype: str = "f32") -> Path:
    """A transformers checkpoint folder (with its tokenizer) as a GGUF, written by llama.cpp's own converter: the
    base model for the basis export, or the ``base/`` folder of the shared-merged one."""
    try:
        import sentencepiece  # noqa: F401  (the converter reads Llama vocabularies with it, in its own process)
    except ImportError as error:
        raise ImportError("llama.cpp's converter needs sentencepiece: pip install 'peft-panacea[serve]'") from error
    source = llama_cpp_source()
    if source is None:
        raise FileNotFoundError(f"No llama.cpp source found: {BUILD_HINT}, or set {SOURCE_ENV} to a llama.cpp tree.")
    args = [sys.executable, str(source / "convert_hf_to_gguf.py"), str(model_dir), "--outtype", outtype]
    result = subprocess.run([*args, "--outfile", str(out_file)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"llama.cpp's converter failed on '{model_dir}':\n{result.stderr[-3000:]}")
    return Path(out_file)
