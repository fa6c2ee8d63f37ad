"""Tiny random models built from configs, so the suite runs offline in seconds, and a fresh-process runner."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from peft import get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from peft_panacea import PanaceaConfig

VOCAB = 97


def tiny_llama(seed: int = 0, layers: int = 2, initializer_range: float = 0.02) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        initializer_range=initializer_range,
    )
    return LlamaForCausalLM(config).eval()


def tiny_gpt2(seed: int = 0) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2, n_positions=64, pad_token_id=0)
    return GPT2LMHeadModel(config).eval()


MODEL_FACTORIES = {"llama": tiny_llama, "gpt2": tiny_gpt2}


def perturb_adapter(model: torch.nn.Module, seed: int = 0, scale: float = 0.5) -> None:
    """Give sigma, s and U non-zero values, as training would, so the preference changes the output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "panacea_E" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
            elif "panacea_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)


def panacea_model(arch: str = "llama", seed: int = 0, **config_kwargs):
    config_kwargs.setdefault("pref_dim", 2)
    config_kwargs.setdefault("task_type", "CAUSAL_LM")
    model = get_peft_model(MODEL_FACTORIES[arch](seed), PanaceaConfig(**config_kwargs))
    perturb_adapter(model, seed)
    return model.eval()


SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>"]
WORDS = [f"w{i}" for i in range(VOCAB - len(SPECIAL))]


def tiny_tokenizer():
    """A word-level tokenizer over ``w0 .. w92`` whose ids fit the tiny models' vocabulary."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL[:2] + [SPECIAL[2], SPECIAL[3]] + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>"
    )


def training_args(output_dir: str | Path, **overrides: Any) -> dict[str, Any]:
    """Config arguments shared by every trainer test: two quick CPU steps, logged each step, nothing saved or
    reported; ``overrides`` adds or replaces arguments (a trainer's own options, longer runs)."""
    return {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": 4,
        "max_steps": 2,
        "learning_rate": 5e-3,
        "report_to": [],
        "bf16": False,
        "save_strategy": "no",
        "logging_steps": 1,
        **overrides,
    }


def dpo_pairs(
    n: int = 8,
    labels: Sequence[Sequence[int]] = ((1, -1),),
    chosen: Callable[[int], str] = lambda i: f" w{10 + i} w{11 + i}",
    rejected: Callable[[int], str] = lambda i: f" w{40 + i}",
) -> Dataset:
    """``n`` preference pairs over the tiny vocabulary; row i gets ``labels[i % len(labels)]``."""
    return Dataset.from_list(
        [
            {
                "prompt": f"w{i} w{i + 1}",
                "chosen": chosen(i),
                "rejected": rejected(i),
                "preference_labels": list(labels[i % len(labels)]),
            }
            for i in range(n)
        ]
    )


_BLOCKER = """
import sys


class _Blocker:
    '''A finder that makes some installed packages look uninstalled.'''

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None


sys.meta_path.insert(0, _Blocker())
"""


def run_without(
    blocked: tuple[str, ...], script: str, args: Sequence[str] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``script`` (with ``args`` as ``sys.argv[1:]``, in ``env`` if given) in a fresh interpreter where importing
    any of ``blocked`` fails, as in a smaller install."""
    source = _BLOCKER.format(blocked=set(blocked)) + script
    command = [sys.executable, "-c", source, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
