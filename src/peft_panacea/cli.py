"""The ``panacea`` command: ``demo`` (the main job), ``eval`` (measure a saved adapter), ``export`` (one preference
as a plain LoRA or a merged model, or every preference for a LoRA server), ``ui`` (steer an adapter in the browser).
Errors print one line and exit with status 2.

The top of this module imports only the tuner's needs; ``demo``, ``eval`` and ``ui`` import the training,
evaluation and Gradio stacks inside their command, so ``panacea export`` writes a LoRA without loading datasets,
TRL or matplotlib.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from peft import PeftModel

from .demo.default_model import load_model
from .demo.prompts import demo_prompts
from .demo.rewards import REWARD_FUNCTIONS
from .demo.task import OBJECTIVES, DemoSettings


class CliError(Exception):
    """A user error: printed as one line, without a traceback."""


def parse_preference(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError as err:
        raise CliError(f"bad preference '{text}': give comma-separated numbers, e.g. 0.3,0.7") from err
    return values


def at_least(minimum: int):
    """argparse type for a count (steps, prompts, grid points, generations), refused below ``minimum`` before any
    work starts: a negative count would otherwise slice lists from the end or train for a default length."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got '{text}'") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def parse_rewards(text: str) -> list:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in REWARD_FUNCTIONS]
    if unknown or not names:
        raise CliError(f"unknown reward(s) {unknown or text!r}; available: {', '.join(REWARD_FUNCTIONS)}")
    return [REWARD_FUNCTIONS[name] for name in names]


def base_model_path(adapter: str, model_path: str | None) -> str:
    config_file = Path(adapter) / "adapter_config.json"
    if not config_file.exists():
        raise CliError(f"no adapter at '{adapter}' (adapter_config.json missing)")
    base_path = model_path or json.loads(config_file.read_text()).get("base_model_name_or_path")
    if not base_path or not Path(base_path).exists():
        raise CliError(f"base model '{base_path}' not found; pass --model with a local causal LM folder")
    return base_path


def load_adapter(adapter: str, model_path: str | None):
    base_path = base_model_path(adapter, model_path)
    base, tokenizer = load_model(base_path)
    return PeftModel.from_pretrained(base, adapter), tokenizer, base_path


def read_panacea_config(adapter: str) -> dict:
    """The adapter's saved config, refused unless it is a Panacea adapter (read before any model is loaded)."""
    config_file = Path(adapter) / "adapter_config.json"
    if not config_file.exists():
        raise CliError(f"no adapter at '{adapter}' (adapter_config.json missing); pass --adapter with a saved adapter")
    config = json.loads(config_file.read_text())
    if config.get("peft_type") != "PANACEA":
        raise CliError(
            f"'{adapter}' holds a {config.get('peft_type')} adapter, not a Panacea one; pass a folder saved from a "
            "PanaceaConfig model"
        )
    return config


def default_rewards(names: list[str]) -> list:
    """The demo rewards named like the adapter's objectives, or none when any objective has no demo reward."""
    return [REWARD_FUNCTIONS[name] for name in names] if all(n in REWARD_FUNCTIONS for n in names) else []


def cmd_ui(args: argparse.Namespace) -> None:
    config = read_panacea_config(args.adapter)
    names = list(config.get("preference_names") or [f"objective_{i}" for i in range(config["pref_dim"])])
    reward_fns = parse_rewards(args.rewards) if args.rewards else default_rewards(names)
    front_path = Path(args.front) if args.front else Path(args.adapter).resolve().parent / "front.json"
    if args.front and not front_path.is_file():
        raise CliError(f"--front '{args.front}' does not exist; pass a front.json written by panacea demo or eval")
    front = None
    from .ui.front_view import Front

    if front_path.is_file():
        front = Front.read(front_path)
        if front.preferences.shape[1] != len(names):
            raise CliError(
                f"'{front_path}' has {front.preferences.shape[1]}-objective preferences, the adapter {len(names)}"
            )
    from .ui.app import launch
    from .ui.steering import Steering

    model, tokenizer, _ = load_adapter(args.adapter, args.model)
    model.eval()
    steering = Steering(model, tokenizer, names, reward_fns)
    print(f"panacea ui: {args.adapter} ({', '.join(names)}) on http://127.0.0.1:{args.port}", flush=True)
    launch(steering, front, str(args.adapter), args.port)


def port_number(text: str) -> int:
    """argparse type for a TCP port, 1 to 65535."""
    port = at_least(1)(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {port}")
    return port


def cmd_demo(args: argparse.Namespace) -> None:
    from .demo.run import run_demo
    from .evaluation import format_table

    available = len(demo_prompts())
    if args.eval_prompts >= available:
        raise CliError(
            f"--eval-prompts {args.eval_prompts} leaves no training prompts (the demo ships {available}); "
            f"use at most {available - 1}"
        )
    settings = DemoSettings(
        steps=args.steps,
        output_dir=args.output_dir,
        model=args.model,
        seed=args.seed,
        points=args.points,
        eval_prompts=args.eval_prompts,
        num_generations=args.num_generations,
        max_completion_length=args.max_completion_length,
    )
    result, base = run_demo(settings)
    print(format_table(result, base))
    print(f"wrote {args.output_dir}/adapter, front.json and front.png")


def cmd_eval(args: argparse.Namespace) -> None:
    from .evaluation import evaluate_front, format_table

    reward_fns = parse_rewards(args.rewards)
    reference = parse_preference(args.reference_point) if args.reference_point else None
    if reference is not None and len(reference) != len(reward_fns):
        raise CliError(f"--reference-point has {len(reference)} values for {len(reward_fns)} rewards")
    prompts = Path(args.prompts).read_text().splitlines() if args.prompts else demo_prompts()[: args.eval_prompts]
    prompts = [p for p in prompts if p.strip()]
    if not prompts:
        raise CliError(f"no prompts to evaluate in '{args.prompts}'")
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model, tokenizer, _ = load_adapter(args.adapter, args.model)
    result = evaluate_front(
        model,
        tokenizer,
        prompts,
        reward_fns,
        n_points=args.points,
        max_new_tokens=args.max_new_tokens,
    )
    if reference is None:
        reference = [min(0.0, v) - 1 for v in result.objectives.min(0)]
    result.reference_point = reference
    result.to_json(output_dir / "front.json", reference_point=reference)
    result.plot(output_dir / "front.png")
    print(format_table(result))


def check_output_folder(out: str, force: bool, marker: str) -> None:
    """Before loading anything: ``out`` must be a folder path, and one holding ``marker`` needs ``--force``."""
    path = Path(out)
    if path.is_file():
        raise CliError(f"--out '{out}' is a file; give a folder path")
    if (path / marker).exists() and not force:
        raise CliError(f"--out '{out}' already holds {marker}; choose another folder or pass --force to replace it")


SERVING_FORMS = {
    "basis": "export_lora_basis",
    "vertices": "export_lora_vertices",
    "shared_merged": "export_shared_merged",
}


def serving_form(args: argparse.Namespace) -> str | None:
    return next((form for form in SERVING_FORMS if getattr(args, form)), None)


def check_serving_folder(out: str, force: bool) -> None:
    """A serving export writes a manifest and several folders: refuse a file or a non-empty folder up front."""
    path = Path(out)
    if path.is_file():
        raise CliError(f"--out '{out}' is a file; give a folder path")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise CliError(f"--out '{out}' is not empty; choose a new or empty folder or pass --force to write there")


def cmd_export(args: argparse.Namespace) -> None:
    form = serving_form(args)
    if args.gguf and form is None:
        raise CliError("--gguf writes the adapters of a serving export; add --basis, --vertices or --shared-merged")
    if form is not None:
        if args.preference is not None:
            raise CliError(f"--{form.replace('_', '-')} serves every preference; drop --preference")
        check_serving_folder(args.out, args.force)
        if args.gguf:
            from .serving.gguf_export import export_gguf, read_base_config

            read_base_config(base_model_path(args.adapter, args.model))
        model, tokenizer, base_path = load_adapter(args.adapter, args.model)
        getattr(model, SERVING_FORMS[form])(args.out, overwrite=args.force)
        if form == "shared_merged":
            tokenizer.save_pretrained(Path(args.out) / "base")  # a complete model folder, as --merged writes
        if args.gguf:
            export_gguf(args.out, base_path)
        gguf = " with GGUF adapters" if args.gguf else ""
        print(f"wrote the {form.replace('_', '-')} serving export{gguf} (manifest panacea_serving.json) to {args.out}")
        return
    if args.preference is None:
        raise CliError("--preference is required (or pass --basis, --vertices or --shared-merged)")
    preference = parse_preference(args.preference)
    check_output_folder(args.out, args.force, "config.json" if args.merged else "adapter_config.json")
    model, tokenizer, _ = load_adapter(args.adapter, args.model)
    if args.merged:
        model.set_preference(preference)
        merged = model.merge_and_unload()
        merged.save_pretrained(args.out)
        tokenizer.save_pretrained(args.out)
    else:
        model.export_lora(args.out, preference=preference, overwrite=args.force)
    print(f"wrote {'merged model' if args.merged else 'LoRA adapter'} at preference {preference} to {args.out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="panacea", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train on positivity vs neutrality, sweep the front, write outputs")
    demo.add_argument("--steps", type=at_least(1), default=DemoSettings.steps)
    demo.add_argument("--output-dir", default=DemoSettings.output_dir)
    demo.add_argument("--model", default=None, help="local causal LM folder (default: embedded SmolLM2)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--points", type=at_least(2), default=DemoSettings.points, help="grid points per objective")
    demo.add_argument("--eval-prompts", type=at_least(1), default=DemoSettings.eval_prompts)
    demo.add_argument("--num-generations", type=at_least(2), default=DemoSettings.num_generations)
    demo.add_argument("--max-completion-length", type=at_least(1), default=DemoSettings.max_completion_length)
    demo.set_defaults(func=cmd_demo)

    evaluate = sub.add_parser("eval", help="sweep a saved adapter over the preference grid")
    evaluate.add_argument("--adapter", required=True)
    evaluate.add_argument("--model", default=None, help="base model folder (default: from adapter_config.json)")
    evaluate.add_argument("--rewards", default=",".join(OBJECTIVES), help="comma-separated reward names")
    evaluate.add_argument("--prompts", default=None, help="text file, one prompt per line (default: demo prompts)")
    evaluate.add_argument("--eval-prompts", type=at_least(1), default=8)
    evaluate.add_argument("--points", type=at_least(2), default=11)
    evaluate.add_argument("--max-new-tokens", type=at_least(1), default=32)
    evaluate.add_argument("--reference-point", default=None, help="comma-separated, one value per reward")
    evaluate.add_argument("--output-dir", default="outputs/eval")
    evaluate.set_defaults(func=cmd_eval)

    export = sub.add_parser(
        "export", help="write one preference as a plain LoRA (or a merged model), or every preference for a server"
    )
    export.add_argument("--adapter", required=True)
    export.add_argument("--preference", default=None, help="comma-separated weights, e.g. 0.3,0.7")
    export.add_argument("--out", required=True)
    export.add_argument("--model", default=None, help="base model folder (default: from adapter_config.json)")
    form = export.add_mutually_exclusive_group()
    form.add_argument("--merged", action="store_true", help="write the merged full model instead of a LoRA")
    form.add_argument("--basis", action="store_true", help="shared LoRA + one rank-1 LoRA per objective + manifest")
    form.add_argument("--vertices", action="store_true", help="one LoRA per pure preference + manifest")
    form.add_argument(
        "--shared-merged", action="store_true", help="base with the shared part merged + rank-1 LoRAs + manifest"
    )
    export.add_argument("--gguf", action="store_true", help="also write the serving adapters as GGUF for llama.cpp")
    export.add_argument("--force", action="store_true", help="replace an adapter or model already in --out")
    export.set_defaults(func=cmd_export)

    ui = sub.add_parser("ui", help="steer an adapter in the browser: sliders, streamed replies, compare, front")
    ui.add_argument("--adapter", default="outputs/demo/adapter", help="saved Panacea adapter (default: the demo's)")
    ui.add_argument("--model", default=None, help="base model folder (default: from adapter_config.json)")
    ui.add_argument(
        "--rewards", default=None, help="comma-separated reward names (default: the objectives' demo rewards, if any)"
    )
    ui.add_argument("--front", default=None, help="front.json to plot (default: front.json beside the adapter folder)")
    ui.add_argument("--port", type=port_number, default=7860)
    ui.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (CliError, ValueError, OSError, ImportError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"panacea {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
