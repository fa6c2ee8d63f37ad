"""Decode speed of llama-server serving a Panacea adapter per request, against one exported LoRA and the base model.

Every way to serve the adapter runs as its own llama-server at once (same binary, threads, prompt and length); the
requests go round-robin over them, so each ratio is measured side by side under the same machine load:

- base: the base GGUF alone;
- one LoRA: ``export_lora`` at one preference (rank r + m), scale 1: the speed to match;
- basis: shared rank-r LoRA at 1 + one rank-1 LoRA per objective at lambda_i (``export_lora_basis``);
- vertices: the m vertex LoRAs at lambda_i (``export_lora_vertices``);
- shared merged: the shared part merged into a new base GGUF + the m rank-1 LoRAs (``export_shared_merged``).

Tokens per second is llama-server's own ``timings.predicted_per_second`` (decode only, prompt excluded); the table
prints the median over ``--repeats`` requests. Needs a built llama-server and llama.cpp's converter
(``scripts/build_llama_server.sh``) and the SmolLM2 cache.

    python benchmarks/llama_server_speed.py --adapter outputs/demo/adapter --outtype f32 q4_1
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import warnings
from contextlib import ExitStack
from pathlib import Path

import torch
from peft import PeftModel

from peft_panacea.demo.default_model import default_cache_dir, load_model
from peft_panacea.serving import LlamaServer, ServingManifest, convert_checkpoint, llama_server_binary
from peft_panacea.serving.gguf_export import export_gguf, lora_folder_to_gguf, read_base_config
from peft_panacea.serving.manifest import AdapterEntry

PROMPT = "Tell me about the ocean."
CONVERTER_TYPES = ("f32", "f16", "bf16", "q8_0")  # written by convert_hf_to_gguf.py; others go through llama-quantize


def base_gguf(model_dir: Path, out: Path, outtype: str) -> Path:
    """A checkpoint as a GGUF of ``outtype``: the converter's own types directly, others (q4_1, ...) by quantising
    its float32 output with the llama-quantize built beside llama-server."""
    if out.exists():
        return out
    if outtype in CONVERTER_TYPES:
        return convert_checkpoint(model_dir, out, outtype)
    f32 = convert_checkpoint(model_dir, out.with_suffix(".f32.gguf"), "f32")
    quantize = llama_server_binary().parent / "llama-quantize"
    subprocess.run([str(quantize), str(f32), str(out), outtype], check=True, capture_output=True)
    return out


def exports(adapter: str, work: Path, outtype: str) -> dict[str, tuple[ServingManifest, Path]]:
    """Every served form: its manifest (adapters with GGUF files) and the base GGUF it runs on."""
    model, tokenizer = load_model(None)
    model = PeftModel.from_pretrained(model, adapter).eval()
    names = list(model.peft_config[model.active_adapter].preference_names)
    middle = [1.0 / len(names)] * len(names)
    cache = default_cache_dir()
    base = base_gguf(cache, work / f"base-{outtype}.gguf", outtype)
    model.export_lora(str(work / "one"), middle, overwrite=True)
    one = lora_folder_to_gguf(work / "one", read_base_config(cache), work / "one.gguf")
    rank = model.peft_config[model.active_adapter].r + len(names)
    single = ServingManifest("single", names, [AdapterEntry("one", work / "one", rank, scale=1.0, gguf=one)], work)
    forms = {
        "base": (ServingManifest("none", names, [], work), base),
        "one LoRA (export_lora)": (single, base),
    }
    for form, export in [("basis", "export_lora_basis"), ("vertices", "export_lora_vertices")]:
        getattr(model, export)(work / form, overwrite=True)
        export_gguf(work / form, cache)
        forms[form] = (ServingManifest.load(work / form), base)
    model.export_shared_merged(work / "merged", overwrite=True)
    tokenizer.save_pretrained(work / "merged" / "base")
    export_gguf(work / "merged")
    merged_gguf = base_gguf(work / "merged" / "base", work / f"merged-{outtype}.gguf", outtype)
    forms["shared merged"] = (ServingManifest.load(work / "merged"), merged_gguf)
    return forms


def measure(forms: dict, preference: list[float], tokens: int, repeats: int, threads: int) -> dict[str, list]:
    # --no-repack: this llama.cpp build (llama-cpp-python 0.3.36's) segfaults in the CPU weight-repacking path at
    # warm-up for quantised models on the AVX-512 machine it was measured on; float32 runs either way.
    args = ["--threads", str(threads), "--parallel", "1", "--ctx-size", "512", "--seed", "0", "--no-repack"]
    speeds: dict[str, list[float]] = {name: [] for name in forms}
    with ExitStack() as stack:
        servers = {name: stack.enter_context(LlamaServer(m, g, args=args)) for name, (m, g) in forms.items()}
        for round_ in range(repeats + 1):  # the first round warms up and is dropped
            order = list(servers) if round_ % 2 else list(reversed(servers))
            for name in order:
                reply = servers[name].complete(
                    preference, PROMPT, n_predict=tokens, temperature=0.0, ignore_eos=True, cache_prompt=False
                )
                if round_:
                    speeds[name].append(reply["timings"]["predicted_per_second"])
    return speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default="outputs/demo/adapter")
    parser.add_argument("--outtype", nargs="+", default=["f32", "q4_1"], help="GGUF types of the base models")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work-dir", default="outputs/llama_server_speed")
    args = parser.parse_args()
    torch.manual_seed(0)
    for outtype in args.outtype:
        work = Path(args.work_dir) / outtype
        work.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            forms = exports(args.adapter, work, outtype)
        names = forms["basis"][0].objectives
        speeds = measure(forms, [1.0 / len(names)] * len(names), args.tokens, args.repeats, args.threads)
        medians = {name: statistics.median(values) for name, values in speeds.items()}
        reference = medians["one LoRA (export_lora)"]
        print(f"\nbase {outtype}, {args.tokens} tokens, {args.threads} threads, median of {args.repeats}")
        print("| served as | tok/s | vs one LoRA | vs base |\n|---|---|---|---|")
        for name, value in medians.items():
            print(f"| {name} | {value:.1f} | {value / reference:.3f} | {value / medians['base']:.3f} |")


if __name__ == "__main__":
    main()
