"""Every preference from one running llama-server: the serving exports as GGUF LoRAs, scaled per request through
``peft_panacea.serving``'s request bodies, against transformers + Panacea at each preference.

The model is SmolLM2-135M cut to 2 layers (float32 GGUF from llama.cpp's own converter) with a random-valued
adapter. Each test starts a real server on 127.0.0.1 with two slots, sends two concurrent requests at different
preferences and a third at another, then repeats the first prompt at a new preference (the prompt-cache trap).
llama-server's log-probability of every token it generated is compared with transformers' log-probability of the
same token, teacher-forced. Needs a built llama-server: ``scripts/build_llama_server.sh`` (cached, reused).
"""

from __future__ import annotations

import importlib.util
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from peft_panacea.serving import convert_checkpoint, llama_cpp_source, llama_server_binary

from .models import perturb_adapter
from .smollm2 import smollm2_files

pytestmark = pytest.mark.skipif(
    llama_server_binary() is None
    or llama_cpp_source() is None
    or smollm2_files() is None
    or importlib.util.find_spec("sentencepiece") is None,
    reason="needs a llama-server binary and llama.cpp's converter (run scripts/build_llama_server.sh, or set "
    "PANACEA_LLAMA_SERVER and PANACEA_LLAMA_CPP_DIR), sentencepiece (the [serve] extra) and the SmolLM2 cache "
    "(`panacea demo` once)",
)
gguf = pytest.importorskip("gguf", reason="GGUF export needs the gguf package (pip install 'peft-panacea[serve]')")

PROMPTS = ["The ocean is", "My favourite season of the year"]
TOLERANCE = 0.01  # mean |delta log-prob| per request, float32 base (issue 15)
NEW_TOKENS = 12


@pytest.fixture(scope="module")
def served_model(tmp_path_factory):
    """A 2-layer SmolLM2 with a random-valued Panacea adapter, its tokenizer, and its base as a float32 GGUF."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from peft_panacea import PanaceaConfig

    folder = tmp_path_factory.mktemp("llama_server")
    cache = smollm2_files()[1].parent
    tokenizer = AutoTokenizer.from_pretrained(cache)
    base = AutoModelForCausalLM.from_pretrained(cache, num_hidden_layers=2, torch_dtype=torch.float32)
    base.save_pretrained(folder / "base")
    tokenizer.save_pretrained(folder / "base")
    config = PanaceaConfig(pref_dim=2, r=4, task_type="CAUSAL_LM", preference_names=["positivity", "neutrality"])
    torch.manual_seed(0)  # V's Kaiming init draws from the global generator: the same adapter in any test order
    model = get_peft_model(base, config)
    perturb_adapter(model, seed=0, scale=2.0)
    with torch.no_grad():  # U of 0.02 barely moves a 135M model's log-probs; the test needs preferences that do
        for name, param in model.named_parameters():
            if "panacea_B" in name:
                param.mul_(16)
            elif name.endswith("pref_scale"):  # a random s can be near 0 in most layers: make lambda matter
                param.fill_(4.0)
    base_gguf = convert_checkpoint(folder / "base", folder / "base-f32.gguf")
    return model.eval(), tokenizer, base_gguf, folder


def teacher_forced(model, prompt_ids: list[int], tokens: list[int], preference: list[float]) -> torch.Tensor:
    """transformers + Panacea's log-probability of each of ``tokens`` after ``prompt_ids`` at ``preference``."""
    ids = torch.tensor([prompt_ids + tokens])
    with torch.no_grad(), model.preference(preference):
        logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1]
    return torch.log_softmax(logits.double(), -1).gather(-1, torch.tensor(tokens)[:, None])[:, 0]


@pytest.mark.parametrize("form", ["basis", "shared_merged"])
def test_one_server_answers_every_preference(form, served_model, tmp_path):
    from peft_panacea.serving import LlamaServer, ServingManifest
    from peft_panacea.serving.gguf_export import export_gguf

    model, tokenizer, base_gguf, folder = served_model
    export = tmp_path / "export"
    if form == "basis":
        model.export_lora_basis(export)
        export_gguf(export, folder / "base")
    else:
        model.export_shared_merged(export)
        tokenizer.save_pretrained(export / "base")
        export_gguf(export)
        base_gguf = convert_checkpoint(export / "base", tmp_path / "merged-f32.gguf")
    manifest = ServingManifest.load(export)
    args = ["--parallel", "2", "--ctx-size", "512", "--threads", "2", "--no-warmup", "--seed", "0"]
    with LlamaServer(manifest, base_gguf, args=args, log_file=tmp_path / "server.log") as server:

        def complete(prompt: str, preference: list[float]) -> tuple[list[int], list[int], torch.Tensor]:
            prompt_ids = tokenizer(prompt)["input_ids"]
            reply = server.complete(preference, prompt_ids, n_predict=NEW_TOKENS, temperature=0.0, n_probs=1)
            probabilities = reply["completion_probabilities"]
            tokens = [p["id"] for p in probabilities]
            assert len(tokens) == NEW_TOKENS, reply
            return prompt_ids, tokens, torch.tensor([p["logprob"] for p in probabilities], dtype=torch.float64)

        with ThreadPoolExecutor(2) as pool:  # two slots, two preferences, at the same time
            first = pool.submit(complete, PROMPTS[0], [0.2, 0.8])
            second = pool.submit(complete, PROMPTS[1], [0.9, 0.1])
            replies = {(0, (0.2, 0.8)): first.result(), (1, (0.9, 0.1)): second.result()}
        replies[(1, (0.5, 0.5))] = complete(PROMPTS[1], [0.5, 0.5])
        replies[(0, (1.0, 0.0))] = complete(PROMPTS[0], [1.0, 0.0])  # same prompt as the first, new preference

    for (_, preference), (prompt_ids, tokens, served) in replies.items():
        reference = teacher_forced(model, prompt_ids, tokens, list(preference))
        assert (served - reference).abs().mean() <= TOLERANCE, (preference, served, reference)
        # The check can fail: at the far vertex the same tokens score measurably differently.
        other = teacher_forced(model, prompt_ids, tokens, [0.0, 1.0] if preference[0] >= 0.5 else [1.0, 0.0])
        assert (served - other).abs().mean() > 10 * TOLERANCE, (preference, served, other)
