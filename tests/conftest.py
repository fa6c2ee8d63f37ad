"""Shared fixtures; tests run offline on tiny random models (see models.py)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

from .models import VOCAB, tiny_llama, tiny_tokenizer  # noqa: E402


@pytest.fixture(params=["llama", "gpt2"])
def arch(request) -> str:
    return request.param


@pytest.fixture
def input_ids() -> torch.Tensor:
    return torch.randint(3, VOCAB, (3, 7), generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny Llama and its tokenizer (with a chat template) saved as a local model folder, for the subprocess
    tests of the CLI, the examples and the benchmarks."""
    path = tmp_path_factory.mktemp("tiny_model")
    tiny_llama().save_pretrained(path)
    tokenizer = tiny_tokenizer()
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    tokenizer.save_pretrained(path)
    return path
