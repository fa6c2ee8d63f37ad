"""Training-step cost of Panacea against TRL + PEFT LoRA of rank k+m, measured side by side in ONE process.

Both trainers are built on identical copies of the same model and fed the same collated batch; their
``training_step`` (forward, reference pass, loss, backward) and the optimizer step run interleaved A B A B ...
``--repeats`` times with one thread, and the ratio of medians is printed. ``--profile`` adds a torch.profiler op
table and the number of ops each step dispatches, the noise-free way to see where extra time goes on a busy machine.

    python benchmarks/step_cost.py [--trainer dpo|sft] [--model smollm2|tiny|<shape>] [--gradient-checkpointing]
        [--repeats 9] [--profile]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import warnings

import datasets
import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import LlamaConfig, LlamaForCausalLM

import peft_panacea as pp

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# Llama-family shapes: (hidden, intermediate, layers, heads, kv heads, vocab)
SHAPES = {
    "tiny": (64, 128, 2, 4, 2, 1000),
    "smollm2-135m": (576, 1536, 30, 9, 3, 49152),
    "smollm2-360m": (960, 2560, 32, 15, 5, 49152),
    "1b": (2048, 8192, 16, 32, 8, 49152),
}


def shaped_model(shape: str, layers: int | None = None) -> LlamaForCausalLM:
    hidden, inter, n_layers, heads, kv, vocab = SHAPES[shape]
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers or n_layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        tie_word_embeddings=True,
        max_position_embeddings=2048,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    return LlamaForCausalLM(config)


def word_tokenizer(vocab: int):
    """A word-level tokenizer over ``w0..`` so random-init models need nothing from the Hub."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tokens = ["<pad>", "<eos>", "<bos>", "<unk>"] + [f"w{i}" for i in range(vocab - 4)]
    backend = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate(tokens)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>"
    )


def words(rng: torch.Generator, n: int, tokenizer) -> str:
    """About ``n`` tokens of random text (decoded random ids) that fit any tokenizer."""
    high = min(len(tokenizer), 20000) - 10
    ids = torch.randint(10, high, (n,), generator=rng)
    return tokenizer.decode(ids.tolist()).strip()


def dpo_data(tokenizer, rows: int, prompt_len: int, completion_len: int, m: int) -> Dataset:
    rng = torch.Generator().manual_seed(0)
    labels = [[1 if (i + j) % 2 == 0 else -1 for j in range(m)] for i in range(rows)]
    return Dataset.from_list(
        [
            {
                "prompt": words(rng, prompt_len, tokenizer),
                "chosen": " " + words(rng, completion_len, tokenizer),
                "rejected": " " + words(rng, completion_len, tokenizer),
                "preference_labels": labels[i],
            }
            for i in range(rows)
        ]
    )


def sft_data(tokenizer, rows: int, prompt_len: int, completion_len: int, m: int) -> Dataset:
    rng = torch.Generator().manual_seed(0)
    return Dataset.from_list(
        [
            {
                "prompt": words(rng, prompt_len, tokenizer),
                "completion": " " + words(rng, completion_len, tokenizer),
                "objective": f"objective_{i % m}",
            }
            for i in range(rows)
        ]
    )


def online_data(tokenizer, rows: int, prompt_len: int) -> Dataset:
    rng = torch.Generator().manual_seed(0)
    return Dataset.from_list([{"prompt": words(rng, prompt_len, tokenizer)} for _ in range(rows)])


def vowel_share(completions: list[str], **kwargs) -> list[float]:
    """A cheap reward, the same work for both trainers."""
    return [sum(ch in "aeiou" for ch in c) / max(len(c), 1) for c in completions]


def shortness(completions: list[str], **kwargs) -> list[float]:
    return [-len(c) / 100 for c in completions]


def shared_args(args) -> dict:
    """The training arguments every trainer pair gets: one step's worth of settings, CPU, no saving or logging."""
    return {
        "output_dir": "/tmp/panacea-step-cost",
        "max_steps": 1,
        "bf16": False,
        "report_to": [],
        "save_strategy": "no",
        "use_cpu": True,
        "gradient_checkpointing": args.gradient_checkpointing,
        "learning_rate": 1e-4,
    }


def build_online_trainers(args, model, tokenizer, lora, panacea):
    """GRPO or RLOO: Panacea's trainer with m rewards vs TRL's with the same rewards at fixed equal weights."""
    import trl

    rewards = [vowel_share, shortness] * ((args.m + 1) // 2)
    rewards = rewards[: args.m]
    name = args.trainer.upper()
    common = {
        **shared_args(args),
        "per_device_train_batch_size": 2 * args.batch,
        "num_generations": 4,
        "max_completion_length": args.completion_len,
        "generation_kwargs": {"min_new_tokens": args.completion_len},
    }
    data = online_data(tokenizer, 8 * args.batch, args.prompt_len)
    ours = getattr(pp, f"Panacea{name}Trainer")(
        model=copy.deepcopy(model),
        reward_funcs=rewards,
        args=getattr(pp, f"Panacea{name}Config")(**common),
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=panacea,
    )
    theirs = getattr(trl, f"{name}Trainer")(
        model=copy.deepcopy(model),
        reward_funcs=rewards,
        args=getattr(trl, f"{name}Config")(reward_weights=[1.0 / args.m] * args.m, **common),
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=lora,
    )
    return {"Panacea": ours, f"TRL + LoRA r={args.r + args.m}": theirs}


def build_trainers(args, model, tokenizer):
    lora = LoraConfig(r=args.r + args.m, lora_alpha=args.r + args.m, target_modules=TARGETS, task_type="CAUSAL_LM")
    panacea = pp.PanaceaConfig(r=args.r, pref_dim=args.m, target_modules=TARGETS, task_type="CAUSAL_LM")
    if args.trainer in ("grpo", "rloo"):
        return build_online_trainers(args, model, tokenizer, lora, panacea)
    common = {
        **shared_args(args),
        "per_device_train_batch_size": args.batch,
        "max_length": 2 * (args.prompt_len + args.completion_len),
    }
    if args.trainer == "dpo":
        from trl import DPOConfig, DPOTrainer

        data = dpo_data(tokenizer, 4 * args.batch, args.prompt_len, args.completion_len, args.m)
        ours_cls, ours_config, theirs_cls, theirs_config = (
            pp.PanaceaDPOTrainer,
            pp.PanaceaDPOConfig,
            DPOTrainer,
            DPOConfig,
        )
        label = "preference_labels"
    else:
        from trl import SFTConfig, SFTTrainer

        data = sft_data(tokenizer, 4 * args.batch, args.prompt_len, args.completion_len, args.m)
        ours_cls, ours_config, theirs_cls, theirs_config = (
            pp.PanaceaSFTTrainer,
            pp.PanaceaSFTConfig,
            SFTTrainer,
            SFTConfig,
        )
        label = "objective"
    ours = ours_cls(
        model=copy.deepcopy(model),
        args=ours_config(**common),
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=panacea,
    )
    theirs = theirs_cls(
        model=copy.deepcopy(model),
        args=theirs_config(**common),
        train_dataset=data.remove_columns(label),  # TRL's trainers know no per-objective column
        processing_class=tokenizer,
        peft_config=lora,
    )
    return {"Panacea": ours, f"TRL + LoRA r={args.r + args.m}": theirs}


def prepare(trainer):
    """The batch, and a step closure doing what ``Trainer`` does per optimizer step (no grad accumulation)."""
    trainer.create_optimizer_and_scheduler(num_training_steps=1000)
    trainer.current_gradient_accumulation_steps = 1
    if trainer.args.gradient_checkpointing:
        trainer.model.gradient_checkpointing_enable(trainer.args.gradient_checkpointing_kwargs)
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.model.train()

    def step():
        trainer.training_step(trainer.model, batch, None)
        torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), trainer.args.max_grad_norm)
        trainer.optimizer.step()
        trainer.model.zero_grad(set_to_none=True)

    return step


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


def step_memory(trainer, step) -> tuple[int, int]:
    """(peak bytes one step allocates on top of what persists, that peak plus the persistent bytes).

    Persistent: parameters, buffers and optimizer state. The in-step peak is the running sum of torch.profiler's
    allocation and free events over the step, at its highest.
    """
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    model = trainer.model
    state = [t for s in trainer.optimizer.state.values() for t in s.values()]
    persistent = tensor_bytes(model.parameters()) + tensor_bytes(model.buffers()) + tensor_bytes(state)
    with torch_profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    records = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    current = peak = 0
    for record in sorted(records, key=lambda e: e.start_ns()):
        current += record.nbytes()  # negative for a free
        peak = max(peak, current)
    return peak, peak + persistent


def profile(name: str, step) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    events = prof.key_averages()
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:18]
    print(f"\n== {name}: {sum(e.count for e in events if e.key.startswith('aten::'))} aten ops dispatched")
    print(f"  {'op':<42} {'calls':>7} {'self ms':>9}")
    for e in top:
        print(f"  {e.key[:42]:<42} {e.count:7d} {e.self_cpu_time_total / 1e3:9.1f}")
    return {e.key: (e.count, e.self_cpu_time_total) for e in events}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trainer", choices=["dpo", "sft", "grpo", "rloo"], default="dpo")
    parser.add_argument(
        "--model", default="smollm2", help=f"'smollm2' (the embedded checkpoint) or one of {list(SHAPES)}"
    )
    parser.add_argument("--layers", type=int, default=None, help="override the shape's depth")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--prompt-len", type=int, default=32)
    parser.add_argument("--completion-len", type=int, default=48)
    parser.add_argument("--r", type=int, default=8)
    parser.add_argument("--m", type=int, default=2)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    datasets.disable_progress_bars()
    torch.set_num_threads(1)

    if args.model == "smollm2":
        from peft_panacea.demo.default_model import load_default_model

        model, tokenizer = load_default_model()
    else:
        model = shaped_model(args.model, args.layers)
        tokenizer = word_tokenizer(model.config.vocab_size)
    trainers = build_trainers(args, model, tokenizer)
    steps = {name: prepare(trainer) for name, trainer in trainers.items()}
    for step in steps.values():  # warm-up
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(v) for name, v in times.items()}
    ours, theirs = med.values()
    print(
        f"{args.trainer.upper()} step, {args.model} (layers {args.layers or 'default'}), batch {args.batch}, "
        f"r={args.r} m={args.m}, gradient checkpointing {'on' if args.gradient_checkpointing else 'off'}, "
        f"torch threads {torch.get_num_threads()}, {args.repeats} interleaved repeats"
    )
    for name, values in times.items():
        spread = (max(values) - min(values)) / med[name]
        print(f"  {name:<22} median {med[name] * 1e3:9.1f} ms   (min-max spread {spread:.0%})")
    ratios = [a / b for a, b in zip(*times.values(), strict=True)]
    print(f"  ratio of medians: {ours / theirs:.3f}   median of paired ratios: {statistics.median(ratios):.3f}")
    memory = {name: step_memory(trainers[name], step) for name, step in steps.items()}
    for name, (in_step, total) in memory.items():
        print(f"  {name:<22} peak memory: {in_step / 2**20:8.1f} MiB in the step, {total / 2**20:8.1f} MiB in all")
    (ours_step, ours_total), (theirs_step, theirs_total) = memory.values()
    print(f"  peak memory ratio: in the step {ours_step / theirs_step:.3f}, in all {ours_total / theirs_total:.3f}")
    if args.profile:
        counts = {name: profile(name, step) for name, step in steps.items()}
        a, b = counts.values()
        diff = {k: [x - y for x, y in zip(a.get(k, (0, 0)), b.get(k, (0, 0)), strict=True)] for k in set(a) | set(b)}
        print("\nPanacea minus baseline, per op (calls, self ms), largest time differences first:")
        for key, (calls, micros) in sorted(diff.items(), key=lambda kv: -abs(kv[1][1]))[:25]:
            print(f"  {key[:60]:<60} {calls:+7d} {micros / 1e3:+9.1f}")


if __name__ == "__main__":
    main()
