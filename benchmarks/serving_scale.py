"""How Panacea's unmerged cost scales, and what generation with per-row preferences costs, side by side in one run.

For each model shape (random-init Llama models shaped like SmolLM2-135M, SmolLM2-360M and a ~1B model; depth can
be cut with ``--layers`` to keep a CPU run light: the per-layer ratio does not depend on depth) and each m:
* forward at batch 1 and 8: Panacea unmerged (one preference, and one preference per row) vs PEFT LoRA r+m;
* ``generate`` tokens/s (greedy, batch ``--gen-batch``): Panacea with a preference per row vs PEFT LoRA with one
  adapter vs PEFT LoRA with a mixed ``adapter_names`` batch of two adapters.

Cases run interleaved (A B C A B C ...), one thread, median of ``--repeats``; only ratios within a table count.

    python benchmarks/serving_scale.py [--shapes smollm2-135m smollm2-360m 1b] [--ms 2 5 10] [--layers 4]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from peft import LoraConfig, get_peft_model
from step_cost import SHAPES, shaped_model

import peft_panacea  # noqa: F401
from peft_panacea import PanaceaConfig

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def bench(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per case, interleaved so that load changes hit every case alike."""
    for fn in cases.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) for name, v in times.items()}


def randomise(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name or "panacea_" in name:
                param.normal_(0, 0.02)


def models(shape: str, layers: int | None, r: int, m: int):
    panacea = get_peft_model(shaped_model(shape, layers), PanaceaConfig(r=r, pref_dim=m, target_modules=TARGETS))
    lora = get_peft_model(shaped_model(shape, layers), LoraConfig(r=r + m, target_modules=TARGETS))
    lora.add_adapter("second", LoraConfig(r=r + m, target_modules=TARGETS))
    for model in (panacea, lora):
        randomise(model)
        model.eval()
    return panacea, lora


def aten_ops(fn: Callable[[], object]) -> int:
    """Number of aten ops one call dispatches: a noise-free measure of per-op overhead."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))


def op_counts(panacea, lora, vocab: int, m: int) -> tuple[int, int, int]:
    """aten ops of one inference forward: LoRA, Panacea at one preference, Panacea with a preference per row."""
    ids = torch.randint(3, vocab, (2, 8))
    counts = []
    for pref in (torch.full((m,), 1.0 / m), torch.full((2, m), 1.0 / m)):
        panacea.set_preference(pref)
        with torch.inference_mode():
            panacea(input_ids=ids)  # the first forward after set_preference builds the diagonals
            counts.append(aten_ops(lambda: panacea(input_ids=ids)))
    with torch.inference_mode():
        return aten_ops(lambda: lora(input_ids=ids)), counts[0], counts[1]


def forward_row(panacea, lora, vocab: int, m: int, batch: int, seq: int, repeats: int) -> tuple[float, float]:
    ids = torch.randint(3, vocab, (batch, seq))
    rows = torch.distributions.Dirichlet(torch.ones(m)).sample((batch,))
    single = torch.full((m,), 1.0 / m)

    def one():
        panacea.set_preference(single)
        return panacea(input_ids=ids)

    def mixed():
        panacea.set_preference(rows)
        return panacea(input_ids=ids)

    with torch.inference_mode():
        t = bench({"lora": lambda: lora(input_ids=ids), "one": one, "mixed": mixed}, repeats)
    return t["one"] / t["lora"], t["mixed"] / t["one"]


def generation_row(panacea, lora, vocab: int, m: int, batch: int, new_tokens: int, repeats: int) -> dict[str, float]:
    ids = torch.randint(3, vocab, (batch, 16))
    rows = torch.distributions.Dirichlet(torch.ones(m)).sample((batch,))
    names = ["default", "second"] * (batch // 2) + ["default"] * (batch % 2)
    kwargs = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "do_sample": False, "pad_token_id": 0}

    def ours():
        panacea.set_preference(rows)
        return panacea.generate(input_ids=ids, **kwargs)

    cases = {
        "Panacea, a preference per row": ours,
        "PEFT LoRA, one adapter": lambda: lora.generate(input_ids=ids, **kwargs),
        "PEFT LoRA, mixed adapter_names": lambda: lora.generate(input_ids=ids, adapter_names=names, **kwargs),
    }
    with torch.inference_mode():
        t = bench(cases, repeats)
    return {name: batch * new_tokens / seconds for name, seconds in t.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=["smollm2-135m", "smollm2-360m", "1b"], choices=list(SHAPES))
    parser.add_argument("--ms", type=int, nargs="+", default=[2, 5, 10])
    parser.add_argument("--r", type=int, default=8)
    parser.add_argument("--layers", type=int, default=None, help="cut every shape to this depth")
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--gen-batch", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--skip-generation", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"torch {torch.__version__}, 1 thread, r={args.r}, layers {args.layers or 'as the shape'}, "
        f"{args.repeats} repeats"
    )
    header = f"{'shape':<14} {'m':>3} {'b1 Panacea/LoRA':>16} {'b8 Panacea/LoRA':>16} {'b8 rows/one':>12}"
    print(f"\n{header} {'aten ops LoRA / Panacea / per-row':>34}")
    for shape in args.shapes:
        for m in args.ms:
            panacea, lora = models(shape, args.layers, args.r, m)
            vocab = panacea.config.vocab_size
            b1, _ = forward_row(panacea, lora, vocab, m, 1, args.seq_len, args.repeats)
            b8, rows = forward_row(panacea, lora, vocab, m, 8, args.seq_len, args.repeats)
            ops = " / ".join(str(n) for n in op_counts(panacea, lora, vocab, m))
            print(f"{shape:<14} {m:>3} {b1:16.3f} {b8:16.3f} {rows:12.3f} {ops:>34}", flush=True)
    if args.skip_generation:
        return
    print(f"\ngenerate, greedy, batch {args.gen_batch} x {args.new_tokens} new tokens (tokens/s, higher is better)")
    for shape in args.shapes:
        panacea, lora = models(shape, args.layers, args.r, args.ms[0])
        tps = generation_row(
            panacea, lora, panacea.config.vocab_size, args.ms[0], args.gen_batch, args.new_tokens, args.repeats
        )
        base = tps["PEFT LoRA, one adapter"]
        cells = ", ".join(f"{name} {v:.1f} ({v / base:.3f})" for name, v in tps.items())
        print(f"  {shape} (m={args.ms[0]}): {cells}", flush=True)


if __name__ == "__main__":
    main()
