"""PEFT's own decoder-model tuner tests (tests/test_decoder_models.py of the installed peft's sdist), run on PANACEA.

Upstream runs them on tiny random models from the Hub; this suite never reaches the Hub, so PEFT's model list is
replaced by this suite's tiny Llama (``nn.Linear``) and GPT-2 (``Conv1D``), saved once under the cache with a
tokenizer. The folder names keep upstream's model names, which its skip rules match on.
"""

from pathlib import Path

from ..models import tiny_gpt2, tiny_llama, tiny_tokenizer
from .cases import DECODER_CASES
from .upstream import adapt_for_panacea, cache_root, import_upstream

upstream = import_upstream("test_decoder_models")


def _local_model(name: str, factory) -> str:
    path = Path(cache_root()) / "models" / name
    if not (path / "config.json").is_file():
        factory(0).save_pretrained(path)
        tiny_tokenizer().save_pretrained(path)
    return str(path)


upstream.ALL_CONFIGS[:] = DECODER_CASES
upstream.PEFT_DECODER_MODELS_TO_TEST[:] = [
    _local_model("tiny-random-LlamaForCausalLM", tiny_llama),
    _local_model("tiny-random-GPT2LMHeadModel", tiny_gpt2),
]
adapt_for_panacea(upstream)


class TestPanaceaDecoderModels(upstream.TestDecoderModels):
    """Every ALL_CONFIGS-parametrised test of PEFT's ``TestDecoderModels``, on Panacea and local tiny models."""
