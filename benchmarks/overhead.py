"""Inference overhead of a Panacea adapter, measured side by side in one run.

Compares, on the same random model with SmolLM2-135M's shape (30 layers) and the same batch:
* forward time: base model, Panacea unmerged, PEFT LoRA of rank r+m, Panacea merged;
* mixed batches: one preference per row vs one for the batch, and PEFT LoRA's mixed ``adapter_names`` batch;
* switching the trade-off: ``set_preference`` vs re-merging a Rewarded Soup with ``add_weighted_adapter`` vs
  re-merging Panacea, and ``set_preference`` against model depth;
* the first decoding step after ``set_preference`` (which rebuilds every layer's diagonal) vs a step at an unchanged
  preference vs a PEFT LoRA step, each on a copy of the same KV cache.

Timings are medians of interleaved repeats; ratios matter more than absolute numbers on a noisy machine.

    python benchmarks/overhead.py [--layers 30] [--repeats 7] [--device cpu|cuda] [--dtype float32|bfloat16]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

import peft_panacea  # noqa: F401
from peft_panacea import PanaceaConfig

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
R, M = 8, 2


def smollm2_shaped(layers: int, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=layers,
        num_attention_heads=9,
        num_key_value_heads=3,
        tie_word_embeddings=True,
        max_position_embeddings=2048,
    )
    return LlamaForCausalLM(config).eval()


def randomise_trainables(model: torch.nn.Module) -> None:
    """Non-zero adapter weights, as after training, so no path is a no-op."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad or "lora_" in name or "panacea_" in name:
                param.normal_(0, 0.02)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def bench(cases: dict[str, Callable[[], object]], repeats: int, device: str) -> dict[str, float]:
    """Median seconds per case; cases run interleaved so drift hits all of them alike."""
    for fn in cases.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def print_table(title: str, results: dict[str, float], reference: str) -> None:
    print(f"\n{title}")
    print(f"  {'case':<44} {'median ms':>10} {'vs ' + reference:>16}")
    for name, seconds in results.items():
        print(f"  {name:<44} {seconds * 1e3:10.2f} {seconds / results[reference]:16.3f}")


def adapted(
    layers: int, device: str, dtype: torch.dtype, *configs: tuple[str, PanaceaConfig | LoraConfig]
) -> PeftModel:
    """A SmolLM2-shaped model with these (name, config) adapters, random trainables, on the device, in eval mode."""
    (first_name, first), *more = configs
    model = get_peft_model(smollm2_shaped(layers), first, first_name)
    for name, config in more:
        model.add_adapter(name, config)
    randomise_trainables(model)
    return model.to(device, dtype).eval()


def panacea_config() -> PanaceaConfig:
    """A fresh config per model: ``get_peft_model`` writes into the one it is given."""
    return PanaceaConfig(r=R, pref_dim=M, target_modules=TARGETS)


def lora_config() -> LoraConfig:
    """PEFT's LoRA at Panacea's total rank k + m."""
    return LoraConfig(r=R + M, target_modules=TARGETS)


def forward_costs(args, dtype: torch.dtype) -> None:
    base = smollm2_shaped(args.layers).to(args.device, dtype)
    panacea = adapted(args.layers, args.device, dtype, ("default", panacea_config()))
    lora = adapted(args.layers, args.device, dtype, ("default", lora_config()), ("second", lora_config()))
    merged = adapted(args.layers, args.device, dtype, ("default", panacea_config()))
    merged.set_preference([0.3, 0.7])
    merged.merge_adapter()

    for batch in args.batch_sizes:
        ids = torch.randint(0, 49152, (batch, args.seq_len), device=args.device)
        mixed = torch.distributions.Dirichlet(torch.ones(M)).sample((batch,))
        names = ["default", "second"] * (batch // 2) + ["default"] * (batch % 2)

        def panacea_single(ids=ids):
            panacea.set_preference([0.3, 0.7])
            return panacea(input_ids=ids)

        def panacea_mixed(ids=ids, mixed=mixed):
            panacea.set_preference(mixed)
            return panacea(input_ids=ids)

        cases = {
            "base model": lambda ids=ids: base(input_ids=ids),
            f"PEFT LoRA r={R + M}": lambda ids=ids: lora(input_ids=ids),
            f"Panacea r={R}+m={M}, one preference": panacea_single,
            "Panacea merged": lambda ids=ids: merged(input_ids=ids),
            f"Panacea, {batch} per-sample preferences": panacea_mixed,
            "PEFT LoRA mixed adapter_names batch": lambda ids=ids, names=names: lora(
                input_ids=ids, adapter_names=names
            ),
        }
        with torch.inference_mode():
            results = bench(cases, args.repeats, args.device)
        print_table(
            f"Forward, batch {batch} x {args.seq_len} tokens, {args.layers} layers ({args.device}, "
            f"{str(dtype).removeprefix('torch.')})",
            results,
            "base model",
        )
        lora_t = results[f"PEFT LoRA r={R + M}"]
        single = results[f"Panacea r={R}+m={M}, one preference"]
        print(f"  Panacea unmerged / PEFT LoRA same rank: {single / lora_t:.3f}")
        mixed_t = results[f"Panacea, {batch} per-sample preferences"]
        print(f"  Panacea mixed / Panacea one preference: {mixed_t / single:.3f}")
        print(
            f"  PEFT LoRA mixed / PEFT LoRA single:     {results['PEFT LoRA mixed adapter_names batch'] / lora_t:.3f}"
        )


def switch_times(layers: int, args, dtype: torch.dtype) -> tuple[float, float, float]:
    """Median seconds per switch at ``layers``: set_preference, Panacea unmerge+set+merge, soup re-merge."""
    panacea = adapted(layers, args.device, dtype, ("default", panacea_config()))
    soup = adapted(layers, args.device, dtype, ("obj0", lora_config()), ("obj1", lora_config()))
    weights = iter(torch.linspace(0.05, 0.95, 10_000).tolist())

    def set_pref():
        w = next(weights)
        panacea.set_preference([w, 1 - w])

    def remerge():
        w = next(weights)
        panacea.unmerge_adapter()
        panacea.set_preference([w, 1 - w])
        panacea.merge_adapter()

    def resoup():
        w = next(weights)
        if "soup" in soup.peft_config:
            soup.delete_adapter("soup")
        soup.add_weighted_adapter(["obj0", "obj1"], [w, 1 - w], "soup", combination_type="linear")
        soup.set_adapter("soup")

    with torch.no_grad():
        panacea.merge_adapter()
        merged = bench({"remerge": remerge}, args.repeats, args.device)["remerge"]
        panacea.unmerge_adapter()
        results = bench({"set": set_pref, "soup": resoup}, args.repeats, args.device)
    return results["set"], merged, results["soup"]


def switching_costs(args, dtype: torch.dtype) -> None:
    print(f"\nSwitching the trade-off (median ms per switch, {args.device})")
    print(f"  {'layers':>6} {'set_preference':>15} {'Panacea re-merge':>17} {'soup add_weighted_adapter':>26}")
    for layers in args.depths:
        set_s, merge_s, soup_s = switch_times(layers, args, dtype)
        print(f"  {layers:>6} {set_s * 1e3:15.4f} {merge_s * 1e3:17.2f} {soup_s * 1e3:26.2f}")


def decode_step_costs(args, dtype: torch.dtype) -> None:
    """Median ms of one decoding step (batch 1, KV cache of ``seq_len`` tokens): a LoRA step, a Panacea step right
    after ``set_preference`` (the preference-setting call itself untimed), and one at an unchanged preference."""
    panacea = adapted(args.layers, args.device, dtype, ("default", panacea_config()))
    lora = adapted(args.layers, args.device, dtype, ("default", lora_config()))
    prompt = torch.randint(0, 49152, (1, args.seq_len), device=args.device)
    token = torch.randint(0, 49152, (1, 1), device=args.device)
    weights = iter(torch.linspace(0.05, 0.95, 10_000).tolist())
    cases = {"PEFT LoRA": lora, "Panacea, after set_preference": panacea, "Panacea, same preference": panacea}
    times: dict[str, list[float]] = {name: [] for name in cases}
    with torch.no_grad():
        caches = {id(m): m(input_ids=prompt, use_cache=True).past_key_values for m in (panacea, lora)}
        for repeat in range(args.repeats + 1):  # the first round warms up
            for name, model in cases.items():
                cache = copy.deepcopy(caches[id(model)])
                if name == "Panacea, after set_preference":
                    w = next(weights)
                    panacea.set_preference([w, 1 - w])
                sync(args.device)
                start = time.perf_counter()
                model(input_ids=token, past_key_values=cache, use_cache=True)
                sync(args.device)
                if repeat:
                    times[name].append(time.perf_counter() - start)
    results = {name: statistics.median(values) for name, values in times.items()}
    print_table(
        f"One decoding step, batch 1, {args.seq_len} cached tokens, {args.layers} layers", results, "PEFT LoRA"
    )
    after, same = results["Panacea, after set_preference"], results["Panacea, same preference"]
    print(f"  first step after set_preference / a step at the same preference: {after / same:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=30)
    parser.add_argument("--depths", type=int, nargs="+", default=[2, 10, 30])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}, dtype {args.dtype}")
    forward_costs(args, dtype)
    decode_step_costs(args, dtype)
    switching_costs(args, dtype)


if __name__ == "__main__":
    main()
