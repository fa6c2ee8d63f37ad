"""A real round trip through the Hub client: ``push_to_hub`` and loading by repo id, each step in a fresh process
with its own cache, against the stand-in Hub of ``hub_server.py`` (HTTP on 127.0.0.1; nothing leaves the machine)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard

from .hub_server import HubServer
from .models import run_without

ROOT = Path(__file__).resolve().parents[1]
OBJECTIVES = ["helpful", "harmless", "honest"]
PREFERENCES = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]
BASE_REPO, ADAPTER_REPO, LORA_REPO = "me/tiny-llama", "me/panacea", "me/panacea-lora"
# Variables that would send the client to the local cache or to another Hub instead of the stand-in.
_CLEARED = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN_PATH")

PUSH = f"""
import sys, torch
from huggingface_hub import HfApi
from peft import get_peft_model
from transformers import AutoModelForCausalLM
from peft_panacea import PanaceaConfig
from tests.models import VOCAB, perturb_adapter, tiny_llama

tiny_llama().push_to_hub({BASE_REPO!r})
base = AutoModelForCausalLM.from_pretrained({BASE_REPO!r})
config = PanaceaConfig(pref_dim=3, preference_names={OBJECTIVES!r}, task_type="CAUSAL_LM")
model = get_peft_model(base, config)
perturb_adapter(model)
model.eval().push_to_hub({ADAPTER_REPO!r})

ids = torch.randint(3, VOCAB, (2, 6), generator=torch.Generator().manual_seed(0))
logits = []
for preference in {PREFERENCES!r}:
    model.set_preference(preference)
    logits.append(model(input_ids=ids).logits)
model.export_lora(sys.argv[2], preference={PREFERENCES[0]!r})
HfApi().create_repo({LORA_REPO!r})
HfApi().upload_folder(repo_id={LORA_REPO!r}, folder_path=sys.argv[2])
torch.save({{"ids": ids, "logits": logits}}, sys.argv[1])
"""

LOAD_PANACEA = f"""
import sys, torch
import peft_panacea
from peft import AutoPeftModelForCausalLM, PeftModel
from transformers import AutoModelForCausalLM

ids = torch.load(sys.argv[1])["ids"]
base = AutoModelForCausalLM.from_pretrained({BASE_REPO!r})
loaded = {{
    "PeftModel": PeftModel.from_pretrained(base, {ADAPTER_REPO!r}),
    "AutoPeftModelForCausalLM": AutoPeftModelForCausalLM.from_pretrained({ADAPTER_REPO!r}),
}}
logits = {{}}
for name, model in loaded.items():
    model.eval()
    logits[name] = []
    for preference in {PREFERENCES!r}:
        model.set_preference(preference)
        logits[name].append(model(input_ids=ids).logits)
torch.save(logits, sys.argv[2])
"""

LOAD_PLAIN_LORA = f"""
import sys, torch
from peft import AutoPeftModelForCausalLM, PeftModel
from transformers import AutoModelForCausalLM

ids = torch.load(sys.argv[1])["ids"]
base = AutoModelForCausalLM.from_pretrained({BASE_REPO!r})
loaded = {{
    "PeftModel": PeftModel.from_pretrained(base, {LORA_REPO!r}),
    "AutoPeftModelForCausalLM": AutoPeftModelForCausalLM.from_pretrained({LORA_REPO!r}),
}}
assert not any(name.startswith("peft_panacea") for name in sys.modules), "peft_panacea was imported"
torch.save({{name: model.eval()(input_ids=ids).logits for name, model in loaded.items()}}, sys.argv[2])
"""


def _client(hub: HubServer, home: Path, script: str, *args: str, upload: bool = False, blocked=()) -> None:
    """Run ``script`` as a Hub client in a fresh process with an empty ``HF_HOME`` and ``HF_ENDPOINT`` at ``hub``."""
    env = {key: value for key, value in os.environ.items() if key not in _CLEARED}
    path = [str(ROOT), env.get("PYTHONPATH", "")]
    env.update(
        HF_HOME=str(home),
        HF_ENDPOINT=hub.endpoint,
        HF_TOKEN="hf_stand_in_token",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        PYTHONPATH=os.pathsep.join(filter(None, path)),
    )
    if upload:
        env["HF_HUB_DISABLE_XET"] = "1"  # xet storage has no local server; uploads take the LFS route
    result = run_without(blocked, script, args, env)
    assert result.returncode == 0, result.stderr[-4000:]


@pytest.fixture(scope="module")
def hub() -> Iterator[HubServer]:
    with HubServer() as server:
        yield server


@pytest.fixture(scope="module")
def pushed(hub: HubServer, tmp_path_factory) -> dict:
    """Push a tiny base model, a Panacea adapter over it and its LoRA export at ``PREFERENCES[0]``."""
    work = tmp_path_factory.mktemp("push")
    _client(hub, work / "hf_home", PUSH, str(work / "original.pt"), str(work / "lora"), upload=True)
    return {"path": work / "original.pt", **torch.load(work / "original.pt")}


def test_push_to_hub_uploads_adapter_lfs_weights_and_panacea_card(hub, pushed):
    files = hub.files(ADAPTER_REPO)
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= set(files)
    config = json.loads(files["adapter_config.json"])
    assert config["peft_type"] == "PANACEA" and config["preference_names"] == OBJECTIVES
    assert config["base_model_name_or_path"] == BASE_REPO
    assert ("PUT", "lfs_put") in hub.calls  # the weights went through the LFS batch/upload route
    assert hub.unhandled == []

    card = ModelCard(files["README.md"].decode())
    # push_to_hub swaps in the Hub's transformers card; the adapter's card must still be PEFT's, with the section
    assert card.data.library_name == "peft" and card.data.base_model == BASE_REPO
    assert re.findall(r"^\d+\. `(\w+)`$", card.text, flags=re.MULTILINE) == OBJECTIVES
    assert "import peft_panacea" in card.text and f'from_pretrained("{BASE_REPO}")' in card.text


def test_adapter_loads_by_repo_id_with_equal_logits(hub, pushed, tmp_path):
    _client(hub, tmp_path / "hf_home", LOAD_PANACEA, str(pushed["path"]), str(tmp_path / "loaded.pt"))
    loaded = torch.load(tmp_path / "loaded.pt")
    assert not torch.allclose(pushed["logits"][0], pushed["logits"][1])  # the two preferences differ
    for name in ("PeftModel", "AutoPeftModelForCausalLM"):
        for expected, actual in zip(pushed["logits"], loaded[name], strict=True):
            torch.testing.assert_close(actual, expected, msg=lambda m, name=name: f"{name}: {m}")
    assert hub.unhandled == []


def test_exported_lora_loads_by_repo_id_with_plain_peft(hub, pushed, tmp_path):
    files = hub.files(LORA_REPO)
    assert json.loads(files["adapter_config.json"])["peft_type"] == "LORA"
    card = ModelCard(files["README.md"].decode())
    assert card.data.library_name == "peft" and card.data.base_model == BASE_REPO
    _client(
        hub,
        tmp_path / "hf_home",
        LOAD_PLAIN_LORA,
        str(pushed["path"]),
        str(tmp_path / "lora.pt"),
        blocked=("peft_panacea",),
    )
    loaded = torch.load(tmp_path / "lora.pt")
    for name in ("PeftModel", "AutoPeftModelForCausalLM"):
        torch.testing.assert_close(loaded[name], pushed["logits"][0], atol=1e-5, rtol=1e-5)
    assert hub.unhandled == []
