"""How front quality and training cost grow with the number of objectives m (2, 3, 5, 10), on a synthetic task.

Objective i prefers a disjoint set of 3 tokens. Each DPO pair puts a token of one objective's set against another's
(label +1 for the first objective, -1 for the second, 0 for the rest). A small random Llama is trained with
PanaceaDPOTrainer for the same number of steps at every m, then evaluated on held-out prompts over the Das-Dennis
grid: objective i's score is the probability share of its tokens at the first completion position
(``--temperature T`` takes it from softmax(logits / T): a softer view of the same model, which separates how sharply
it steers from how evenly).

    python benchmarks/objectives_scale.py [--steps 150] [--objectives 2 3 5 10] [--init default|paper]
        [--sampling vertex|uniform] [--learning-rate 3e-2] [--beta 0.1] [--support simplex|labelled] [--r 4]
        [--loss-type sigmoid|hinge|ipo] [--aggregation linear|tchebycheff|smooth_tchebycheff]
        [--target-modules o_proj down_proj] [--layers 1] [--temperature 1]

Defaults: the adapter's default initialisation, a preference per pair drawn with the paper's vertex bias (a corner
of the simplex with probability 0.3), lr 3e-2, DPO beta 0.1 (TRL's default; the measurements before issue 11's
item 3 used 1.0); ``--init paper --sampling uniform --beta 1`` is the setting of the first measurement in
BENCHMARKS.md.

Columns: ``mono min`` is the weakest objective's Spearman on the grid and ``ceiling`` the most that grid's ties allow;
``rand min`` the same on 128 random preferences, ``lin fit`` what the trained policy's linear part reaches there (its
log-shares fitted by any linear map of lambda), ``exact`` what the log-linear policy with one slope for every
objective fitted to the trained one (shares = softmax(t * lambda + b), ``sharp`` = t) reaches there, ``lin R2`` how
much of the trained policy's log-shares there any linear function of lambda explains.
"""

from __future__ import annotations

import argparse
import math
import random
import time
import warnings

import numpy as np
import torch
from datasets import Dataset
from scipy.stats import spearmanr
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from peft_panacea import PanaceaConfig, PanaceaDPOConfig, PanaceaDPOTrainer
from peft_panacea.aggregation import AGGREGATIONS
from peft_panacea.evaluation import FrontResult
from peft_panacea.sampling import PreferenceSampler, preference_grid
from peft_panacea.trainer.dpo_config import SUPPORTED_LOSS_TYPES

VOCAB = 128
GRID_POINTS = {2: 11, 3: 6, 5: 4, 10: 3}
RANDOM_PREFERENCES = 128
INITS = {"default": True, "paper": "paper"}


def tokenizer() -> PreTrainedTokenizerFast:
    vocab = {t: i for i, t in enumerate(["<pad>", "<eos>", "<bos>", "<unk>"] + [f"w{i}" for i in range(VOCAB - 4)])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def model(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        initializer_range=0.3,
        pad_token_id=0,
        eos_token_id=1,
    )
    return LlamaForCausalLM(config)


def token_sets(m: int) -> list[list[str]]:
    return [[f"w{10 + 3 * i + k}" for k in range(3)] for i in range(m)]


def prompt(rng: random.Random) -> str:
    return f"w{rng.randrange(60, 120)} w{rng.randrange(60, 120)}"


def pairs(m: int, rng: random.Random, n: int = 256) -> Dataset:
    sets, rows = token_sets(m), []
    for _ in range(n):
        good, bad = rng.sample(range(m), 2)
        labels = [0] * m
        labels[good], labels[bad] = 1, -1
        rows.append(
            {
                "prompt": prompt(rng),
                "chosen": " " + rng.choice(sets[good]),
                "rejected": " " + rng.choice(sets[bad]),
                "preference_labels": labels,
            }
        )
    return Dataset.from_list(rows)


@torch.no_grad()
def front(
    trained, tok, m: int, rng: random.Random, preferences: torch.Tensor, temperature: float = 1.0
) -> FrontResult:
    ids = tok([prompt(rng) for _ in range(16)], return_tensors="pt")["input_ids"]
    set_ids = [tok.convert_tokens_to_ids(s) for s in token_sets(m)]
    scores = []
    for pref in preferences:
        probs = (trained(input_ids=ids, preference=pref).logits[:, -1] / temperature).softmax(-1)
        mass = torch.stack([probs[:, s].sum(-1) for s in set_ids], -1)  # (prompts, m)
        scores.append((mass / mass.sum(-1, keepdim=True)).numpy())
    per_prompt = np.stack(scores)
    return FrontResult(preferences.numpy(), per_prompt.mean(1), per_prompt, [f"o{i}" for i in range(m)])


def spearman_ceiling(grid: torch.Tensor) -> float:
    """The highest Spearman a grid allows: its weights repeat (ties), so even scores in perfect order fall short."""
    weights = grid[:, 0].numpy()
    return float(spearmanr(weights, np.argsort(np.argsort(weights, kind="stable"))).statistic)


def centred_log_shares(shares: np.ndarray) -> np.ndarray:
    """Log-shares minus their mean over objectives: softmax logits are only known up to that constant."""
    log_share = np.log(np.clip(shares, 1e-12, None))
    return log_share - log_share.mean(1, keepdims=True)


def softmax_shares(logits: np.ndarray) -> np.ndarray:
    """Each row's shares from its log-shares (shifted by the row's max so exp cannot overflow)."""
    weights = np.exp(logits - logits.max(1, keepdims=True))
    return weights / weights.sum(1, keepdims=True)


def exact_policy(preferences: np.ndarray, shares: np.ndarray) -> tuple[float, np.ndarray]:
    """The log-linear policy nearest the trained one, shares = softmax(t * lambda + b): its t and centred b.

    Each layer's update is linear in lambda, so to first order the adapter's log-shares are too; t (nats of
    log-share per unit of weight) says how sharply it steers, b is each objective's offset (known up to a constant).
    The fit is least squares on the centred log-shares of ``shares`` (here means over the evaluation prompts).
    """
    m = preferences.shape[1]
    centred = centred_log_shares(shares)
    # centred_i = t * (lambda_i - 1/m) + (b_i - mean b): one slope for all objectives, one intercept per objective
    design = np.concatenate([(preferences - 1 / m).reshape(-1, 1), np.tile(np.eye(m), (len(preferences), 1))], 1)
    solution = np.linalg.lstsq(design, centred.reshape(-1), rcond=None)[0]
    return float(solution[0]), solution[1:]


def weakest_monotonicity(preferences: np.ndarray, scores: np.ndarray) -> float:
    """The weakest objective's ``FrontResult.monotonicity`` for these scores (each preference's mean)."""
    names = [f"o{i}" for i in range(preferences.shape[1])]
    return float(min(FrontResult(preferences, scores, scores[:, None, :], names).monotonicity().values()))


def linear_log_shares(preferences: np.ndarray, shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centred log-shares, their least-squares fit by a full linear map of lambda plus a constant).

    A full m x m map, so each weight may move every objective's share, each by its own slope: the fit keeps what the
    trained policy does linearly in the weights, cross-effects and uneven slopes included, and drops the rest.
    """
    centred = centred_log_shares(shares)
    design = np.concatenate([preferences, np.ones((len(preferences), 1))], 1)
    return centred, design @ np.linalg.lstsq(design, centred, rcond=None)[0]


def linear_share_r2(preferences: np.ndarray, shares: np.ndarray) -> float:
    """How much of the variance of the centred log-shares any linear function of lambda explains (R^2).

    What it leaves is the part of the steering that is not linear in the weights at all (shares equal to the
    weights, whose log-shares are log lambda, leave about 30% on the benchmark's random preferences).
    """
    centred, fitted = linear_log_shares(preferences, shares)
    return float(1 - ((centred - fitted) ** 2).sum() / ((centred - centred.mean(0)) ** 2).sum())


def linear_fit_spearman(preferences: np.ndarray, shares: np.ndarray) -> float:
    """The weakest Spearman of the policy whose log-shares are the linear fit: the trained one without its
    non-linear part. Near the trained policy's own figure, the error is in the linear map (uneven slopes,
    cross-effects, sharpness), not in what no linear map can express."""
    return weakest_monotonicity(preferences, softmax_shares(linear_log_shares(preferences, shares)[1]))


def exact_policy_spearman(preferences: np.ndarray, shares: np.ndarray) -> tuple[float, float]:
    """(the weakest Spearman the fitted log-linear policy reaches with no error, its sharpness t).

    Such a policy's shares saturate: once one objective dominates a reply, the others' shares hardly move with their
    weights, so on random preferences the sharper it steers, the lower its Spearman. It is a reference for how far
    a policy of that form and sharpness can go, not a bound on the metric (shares equal to the weights score 1).
    """
    sharpness, offsets = exact_policy(preferences, shares)
    return weakest_monotonicity(preferences, softmax_shares(sharpness * preferences + offsets)), sharpness


def run(
    m: int,
    steps: int,
    seed: int,
    init: str,
    learning_rate: float,
    granularity: str,
    sampling: str,
    preference_lr_ratio: float = 1.0,
    support: str = "simplex",
    beta: float = 0.1,
    r: int = 4,
    loss_type: str = "sigmoid",
    aggregation: str = "linear",
    target_modules: list[str] | None = None,
    layers: list[int] | None = None,
    temperature: float = 1.0,
) -> dict:
    rng = random.Random(seed)
    tok = tokenizer()
    args = PanaceaDPOConfig(
        output_dir="/tmp/panacea-scale",
        per_device_train_batch_size=16,
        max_steps=steps,
        learning_rate=learning_rate,
        lr_scheduler_type="constant",
        beta=beta,
        loss_type=loss_type,
        aggregation=aggregation,
        preference_granularity=granularity,
        preference_sampling=sampling,
        preference_lr_ratio=preference_lr_ratio,
        preference_support=support,
        gradient_checkpointing=False,
        bf16=False,
        report_to=[],
        save_strategy="no",
        logging_steps=steps,
        seed=seed,
        use_cpu=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = PanaceaDPOTrainer(
            model=model(seed),
            args=args,
            train_dataset=pairs(m, rng),
            processing_class=tok,
            peft_config=PanaceaConfig(
                pref_dim=m,
                r=r,
                init_panacea_weights=INITS[init],
                target_modules=target_modules,
                layers_to_transform=layers,
                task_type="CAUSAL_LM",
            ),
        )
        start = time.perf_counter()
        trainer.train()
        step_s = (time.perf_counter() - start) / steps
    grid = preference_grid(m, GRID_POINTS[m])
    result = front(trainer.model.eval(), tok, m, rng, grid, temperature)
    monotonicity = result.monotonicity()
    # Spearman on the grid is capped below 1 for m >= 3 (ties); on distinct random preferences it is not.
    sampled = front(
        trainer.model, tok, m, rng, PreferenceSampler(m, seed=1234).sample(RANDOM_PREFERENCES), temperature
    )
    sampled_monotonicity = sampled.monotonicity()
    sampled_shares = np.asarray(sampled.objectives)
    random_exact, sharpness = exact_policy_spearman(sampled.preferences, sampled_shares)
    return {
        "m": m,
        "grid": len(result.preferences),
        "step_ms": 1e3 * step_s,
        "hypervolume": result.hypervolume(np.zeros(m)),
        "inner_product": result.inner_product(),
        "mean_monotonicity": float(np.mean(list(monotonicity.values()))),
        "min_monotonicity": float(np.min(list(monotonicity.values()))),
        "grid_ceiling": spearman_ceiling(grid),
        "random_min_monotonicity": float(np.min(list(sampled_monotonicity.values()))),
        "random_exact": random_exact,
        "sharpness": sharpness,
        "linear_r2": linear_share_r2(sampled.preferences, sampled_shares),
        "linear_fit": linear_fit_spearman(sampled.preferences, sampled_shares),
        "sparsity": result.sparsity(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--objectives", type=int, nargs="+", default=[2, 3, 5, 10])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", choices=sorted(INITS), default="default", help="init_panacea_weights")
    parser.add_argument("--learning-rate", type=float, default=3e-2)
    parser.add_argument("--granularity", choices=["sample", "batch"], default="sample")
    parser.add_argument("--sampling", choices=["uniform", "vertex"], default="vertex")
    parser.add_argument("--preference-lr-ratio", type=float, default=1.0)
    parser.add_argument("--support", choices=["simplex", "labelled"], default="simplex", help="preference_support")
    parser.add_argument("--beta", type=float, default=0.1, help="DPO beta (how far from the reference it may go)")
    parser.add_argument("--r", type=int, default=4, help="shared rank k")
    parser.add_argument("--loss-type", choices=SUPPORTED_LOSS_TYPES, default="sigmoid", help="DPO loss_type")
    parser.add_argument("--aggregation", choices=AGGREGATIONS, default="linear")
    parser.add_argument("--target-modules", nargs="+", help="target_modules (default: every projection)")
    parser.add_argument("--layers", type=int, nargs="+", help="layers_to_transform (default: all)")
    parser.add_argument(
        "--temperature", type=float, default=1.0, help="softmax temperature of the scores (above 1: less saturated)"
    )
    args = parser.parse_args()
    if not math.isfinite(args.temperature) or args.temperature <= 0:
        parser.error(
            f"--temperature must be a finite number > 0 (1 scores the model as it is), got {args.temperature}"
        )
    rows = [
        run(
            m,
            args.steps,
            args.seed,
            args.init,
            args.learning_rate,
            args.granularity,
            args.sampling,
            args.preference_lr_ratio,
            args.support,
            args.beta,
            args.r,
            args.loss_type,
            args.aggregation,
            args.target_modules,
            args.layers,
            args.temperature,
        )
        for m in args.objectives
    ]
    base = rows[0]
    print(
        f"{args.steps} steps of PanaceaDPOTrainer per m ({args.loss_type}, {args.aggregation}, beta {args.beta}, "
        f"support {args.support}, lr {args.learning_rate}, seed {args.seed}, "
        f"targets {args.target_modules or 'all projections'} in layers {args.layers or 'all'}, "
        f"scored at temperature {args.temperature}), "
        "tiny random Llama, CPU; reference point 0; chance share 1/m"
    )
    print(
        f"{'m':>3} {'grid':>5} {'step ms':>8} {'vs m=' + str(base['m']):>8} {'HV':>9} {'inner prod':>10} "
        f"{'mono mean':>9} {'mono min':>8} {'ceiling':>7} {'rand min':>8} {'lin fit':>7} {'exact':>6} {'sharp':>6} "
        f"{'lin R2':>6} {'sparsity':>9}"
    )
    for r in rows:
        print(
            f"{r['m']:>3} {r['grid']:>5} {r['step_ms']:8.1f} {r['step_ms'] / base['step_ms']:8.2f} "
            f"{r['hypervolume']:9.5f} {r['inner_product']:10.4f} {r['mean_monotonicity']:9.3f} "
            f"{r['min_monotonicity']:8.3f} {r['grid_ceiling']:7.3f} {r['random_min_monotonicity']:8.3f} "
            f"{r['linear_fit']:7.3f} {r['random_exact']:6.3f} {r['sharpness']:6.1f} {r['linear_r2']:6.3f} "
            f"{r['sparsity']:9.5f}"
        )


if __name__ == "__main__":
    main()
