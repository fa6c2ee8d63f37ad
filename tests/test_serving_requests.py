"""The serving client helper: manifest + preference -> llama.cpp and LoRAX request bodies, validated like
set_preference, and scales that reproduce the Panacea adapter when applied to the exported LoRAs."""

import json
import sys
import types
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from peft.tuners.lora import LoraLayer

from peft_panacea.serving import (
    ServingManifest,
    llama_cpp_completion,
    llama_cpp_lora,
    llama_cpp_reset,
    lorax_generate,
)

from .models import MODEL_FACTORIES, panacea_model, run_without

NAMES = ["helpful", "concise"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    model = panacea_model("llama", r=2, preference_names=NAMES)
    model.export_lora_basis(root / "basis")
    model.export_lora_vertices(root / "vertices")
    return model, root


def test_llama_cpp_lora_lists_every_adapter_in_manifest_order_zeros_included(exports):
    _, root = exports
    manifest = ServingManifest.load(root / "basis")
    assert [a.name for a in manifest.adapters] == ["shared", "objective_0", "objective_1"]
    assert llama_cpp_lora(manifest, {"concise": 0.7, "helpful": 0.3}) == [
        {"id": 0, "scale": 1.0},
        {"id": 1, "scale": pytest.approx(0.3)},
        {"id": 2, "scale": pytest.approx(0.7)},
    ]
    assert llama_cpp_lora(manifest, [1.0, 0.0]) == [
        {"id": 0, "scale": 1.0},
        {"id": 1, "scale": 1.0},
        {"id": 2, "scale": 0.0},
    ]
    assert llama_cpp_reset(manifest) == [{"id": i, "scale": 0.0} for i in range(3)]


def test_llama_cpp_completion_always_carries_the_full_list(exports):
    _, root = exports
    manifest = ServingManifest.load(root / "basis" / "panacea_serving.json")
    body = llama_cpp_completion(manifest, [2.0, 6.0], "Hello", normalize=True, n_predict=8, n_probs=5)
    assert body["prompt"] == "Hello" and body["n_predict"] == 8 and body["n_probs"] == 5
    assert [entry["scale"] for entry in body["lora"]] == pytest.approx([1.0, 0.25, 0.75])
    json.dumps(body)  # a plain JSON body
    with pytest.raises(ValueError, match="not a `lora` list"):
        llama_cpp_completion(manifest, [0.5, 0.5], "Hello", lora=[])


def test_lorax_payload_merges_the_vertices_linearly(exports):
    _, root = exports
    manifest = ServingManifest.load(root / "vertices")
    body = lorax_generate(manifest, {"helpful": 0.25, "concise": 0.75}, "Hi", max_new_tokens=4)
    merge = body["parameters"]["merged_adapters"]
    assert merge["ids"] == [str((root / "vertices" / f"vertex_{i}").resolve()) for i in range(2)]
    assert merge["weights"] == pytest.approx([0.25, 0.75]) and merge["merge_strategy"] == "linear"
    assert body["inputs"] == "Hi" and body["parameters"]["max_new_tokens"] == 4
    assert body["parameters"]["adapter_source"] == "local"
    hub = lorax_generate(manifest, [1, 0], "Hi", adapter_ids=["me/v0", "me/v1"], adapter_source="hub")
    assert hub["parameters"]["merged_adapters"]["ids"] == ["me/v0", "me/v1"]
    with pytest.raises(ValueError, match="2 vertices"):
        lorax_generate(manifest, [1, 0], "Hi", adapter_ids=["me/v0"])
    with pytest.raises(ValueError, match="not `adapter_id`"):
        lorax_generate(manifest, [1, 0], "Hi", adapter_id="other")
    with pytest.raises(ValueError, match="'basis' export does not fit.*--vertices"):
        lorax_generate(ServingManifest.load(root / "basis"), [1, 0], "Hi")


@pytest.mark.parametrize(
    "preference, message",
    [
        ([0.2, 0.3, 0.5], "length 3 but the adapter has pref_dim=2 \\(objectives: helpful, concise\\)"),
        ([0.3, 0.3], "sums to 0.6 instead of 1"),
        ([1.5, -0.5], "negative weights"),
        ([float("nan"), 1.0], "NaN"),
        ([0.0, 0.0], "all zeros"),
        ({"helpful": 0.5, "funny": 0.5}, "unknown names \\['funny'\\] and missing names \\['concise'\\]"),
        ([[1.0, 0.0], [0.0, 1.0]], "one preference vector, got shape \\(2, 2\\)"),
        ("0.5,0.5", "must be numeric"),
    ],
)
def test_bad_preferences_are_refused_like_set_preference(exports, preference, message):
    _, root = exports
    manifest = ServingManifest.load(root / "basis")
    with pytest.raises(ValueError, match=message):
        llama_cpp_completion(manifest, preference, "Hello")
    with pytest.raises(ValueError, match=message):
        lorax_generate(ServingManifest.load(root / "vertices"), preference, "Hello")


def test_manifest_errors_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="No serving manifest.*--basis"):
        ServingManifest.load(tmp_path)
    (tmp_path / "panacea_serving.json").write_text(json.dumps({"format": "other", "version": 1}))
    with pytest.raises(ValueError, match="not a peft-panacea-serving manifest.*export the adapter again"):
        ServingManifest.load(tmp_path)


def test_helper_scales_reproduce_panacea_on_the_exported_loras(exports, input_ids):
    model, root = exports
    manifest = ServingManifest.load(root / "basis")
    served = PeftModel.from_pretrained(MODEL_FACTORIES["llama"](0), manifest.adapters[0].path, adapter_name="shared")
    for adapter in manifest.adapters[1:]:
        served.load_adapter(adapter.path, adapter_name=adapter.name)
    served.base_model.set_adapter([a.name for a in manifest.adapters])
    served.eval()
    for preference in ({"helpful": 0.9, "concise": 0.1}, [0.0, 1.0]):
        for entry in llama_cpp_lora(manifest, preference):
            for module in served.modules():
                if isinstance(module, LoraLayer):
                    module.set_scale(manifest.adapters[entry["id"]].name, entry["scale"])
        with torch.no_grad(), model.preference(preference):
            expected = model(input_ids).logits
            torch.testing.assert_close(served(input_ids).logits, expected, atol=1e-5, rtol=1e-5)


_WITHOUT_GGUF = """
from peft_panacea.serving import ServingManifest, llama_cpp_lora
print("client ok")
try:
    import peft_panacea.serving.gguf_export
except ImportError as err:
    print("gguf ->", err)
"""


def test_client_needs_no_gguf_and_the_gguf_export_names_its_extra():
    result = run_without(("gguf",), _WITHOUT_GGUF)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "client ok" in result.stdout
    assert "gguf -> Writing GGUF adapters needs gguf" in result.stdout
    assert "pip install 'peft-panacea[serve]'" in result.stdout


def test_llama_cpp_is_found_where_the_build_script_caches_it(tmp_path, monkeypatch):
    from peft_panacea.serving import convert_checkpoint, llama_cpp_source, llama_server_binary
    from peft_panacea.serving.llama_cpp import SDIST_VERSION

    monkeypatch.setitem(sys.modules, "sentencepiece", types.ModuleType("sentencepiece"))  # the converter's dependency
    monkeypatch.setenv("PEFT_PANACEA_CACHE", str(tmp_path))
    monkeypatch.delenv("PANACEA_LLAMA_CPP_DIR", raising=False)
    monkeypatch.delenv("PANACEA_LLAMA_SERVER", raising=False)
    assert llama_server_binary() is None and llama_cpp_source() is None
    with pytest.raises(FileNotFoundError, match="No llama.cpp source.*build_llama_server.sh.*PANACEA_LLAMA_CPP_DIR"):
        convert_checkpoint(tmp_path, tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()
    binary = tmp_path / "llama-server-build" / "bin" / "llama-server"
    source = tmp_path / "llama-server-src" / f"llama_cpp_python-{SDIST_VERSION}" / "vendor" / "llama.cpp"
    binary.parent.mkdir(parents=True)
    binary.touch()
    source.mkdir(parents=True)
    (source / "convert_hf_to_gguf.py").write_text("import sys; sys.exit('converter ran on ' + sys.argv[1])\n")
    assert llama_server_binary() == binary and llama_cpp_source() == source
    with pytest.raises(RuntimeError, match="(?s)converter failed.*converter ran on"):
        convert_checkpoint(tmp_path / "model", tmp_path / "out.gguf")
    monkeypatch.setenv("PANACEA_LLAMA_SERVER", "/opt/llama-server")
    assert llama_server_binary() == Path("/opt/llama-server")


# A stand-in for llama-server's command line and routes: it records every request body it gets.
_FAKE_SERVER = """#!{python}
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
argv = sys.argv[1:]
if "--fail" in argv:
    sys.exit("cannot load model")
port = int(argv[argv.index("--port") + 1])
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"{{}}")
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with open({log!r}, "a") as log:
            log.write(json.dumps([self.path, body]) + "\\n")
        self.send_response(200); self.end_headers(); self.wfile.write(json.dumps({{"argv": argv}}).encode())
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def test_llama_server_resets_scales_at_start_and_sends_the_full_list(tmp_path, monkeypatch):
    from peft_panacea.serving import LlamaServer

    model = panacea_model("llama", pref_dim=2)
    model.export_lora_basis(tmp_path / "export")
    manifest = ServingManifest.load(tmp_path / "export")
    gguf_files = [replace(a, gguf=tmp_path / f"{a.name}.gguf") for a in manifest.adapters]  # as export_gguf names them
    manifest = replace(manifest, adapters=type(manifest.adapters)(gguf_files))
    binary = tmp_path / "llama-server"
    requests = tmp_path / "requests.jsonl"
    binary.write_text(_FAKE_SERVER.format(python=sys.executable, log=str(requests)))
    binary.chmod(0o755)
    with LlamaServer(manifest, "base.gguf", binary=binary, args=["--threads", "2"]) as server:
        reply = server.complete([0.25, 0.75], "Hello", n_predict=4)
    argv = reply["argv"]
    assert argv[argv.index("--cache-ram") + 1] == "0" and "--lora-init-without-apply" in argv
    assert argv[-2:] == ["--threads", "2"]
    sent = [json.loads(line) for line in requests.read_text().splitlines()]
    assert sent[0] == ["/lora-adapters", [{"id": i, "scale": 0.0} for i in range(3)]]
    assert sent[1][0] == "/completion" and sent[1][1]["n_predict"] == 4
    assert sent[1][1]["lora"] == [{"id": 0, "scale": 1.0}, {"id": 1, "scale": 0.25}, {"id": 2, "scale": 0.75}]
    assert server.process.poll() is not None  # stopped on leaving the block
    with pytest.raises(RuntimeError, match="(?s)exited with 1.*cannot load model"):
        LlamaServer(manifest, "base.gguf", binary=binary, args=["--fail"]).__enter__()
    monkeypatch.setenv("PEFT_PANACEA_CACHE", str(tmp_path))
    monkeypatch.delenv("PANACEA_LLAMA_SERVER", raising=False)
    with pytest.raises(FileNotFoundError, match="No llama-server binary.*build_llama_server.sh"):
        LlamaServer(manifest, "base.gguf")


def test_converting_a_checkpoint_names_the_missing_sentencepiece(tmp_path, monkeypatch):
    from peft_panacea.serving import convert_checkpoint

    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # as if not installed
    with pytest.raises(ImportError, match=r"converter needs sentencepiece: pip install 'peft-panacea\[serve\]'"):
        convert_checkpoint(tmp_path, tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()
