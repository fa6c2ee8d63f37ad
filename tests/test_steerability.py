"""A tiny model trained with PanaceaDPOTrainer must be steerable: more weight on objective 1, more of its tokens."""

import functools
import importlib.util
import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset
from scipy.stats import spearmanr

from peft_panacea import PanaceaConfig, PanaceaDPOConfig, PanaceaDPOTrainer
from peft_panacea.sampling import PreferenceSampler, preference_grid

from .models import tiny_llama, tiny_tokenizer, training_args

OBJECTIVE_1 = ["w10", "w11", "w12"]  # tokens objective 1 prefers
OBJECTIVE_2 = ["w40", "w41", "w42"]  # tokens objective 2 prefers


def random_prompt(rng: random.Random) -> str:
    return f"w{rng.randrange(60, 90)} w{rng.randrange(60, 90)}"


def conflicting_pairs(rng: random.Random, n: int = 64) -> Dataset:
    """Random prompts and single-token replies; not ``models.dpo_pairs``: the calibrated seed depends on this
    order of draws."""
    rows = []
    for i in range(n):
        one, two = " " + rng.choice(OBJECTIVE_1), " " + rng.choice(OBJECTIVE_2)
        if i % 2:
            rows.append({"prompt": random_prompt(rng), "chosen": one, "rejected": two, "preference_labels": [1, -1]})
        else:
            rows.append({"prompt": random_prompt(rng), "chosen": two, "rejected": one, "preference_labels": [-1, 1]})
    return Dataset.from_list(rows)


@pytest.mark.parametrize("aggregation, granularity", [("linear", "batch"), ("tchebycheff", "sample")])
def test_sweeping_the_preference_moves_the_objective_token_share_monotonically(tmp_path, aggregation, granularity):
    rng = random.Random(0)
    tokenizer = tiny_tokenizer()
    args = PanaceaDPOConfig(
        **training_args(
            tmp_path,
            per_device_train_batch_size=16,
            max_steps=150,
            learning_rate=2e-2,  # 3e-2 collapsed the spread for one seed; at 2e-2 seeds 1-3 and 42 gave rho >= 0.97
            lr_scheduler_type="constant",
            beta=1.0,
            aggregation=aggregation,
            preference_granularity=granularity,
            gradient_checkpointing=False,
            logging_steps=50,
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A wider init than the other tests' models, so the random LM head can express a strong preference.
        trainer = PanaceaDPOTrainer(
            model=tiny_llama(initializer_range=0.3),
            args=args,
            train_dataset=conflicting_pairs(rng),
            processing_class=tokenizer,
            peft_config=PanaceaConfig(pref_dim=2, r=4, task_type="CAUSAL_LM"),
        )
        trainer.train()
    model = trainer.model.eval()
    held_out = tokenizer([random_prompt(rng) for _ in range(16)], return_tensors="pt")["input_ids"]
    one_ids = tokenizer.convert_tokens_to_ids(OBJECTIVE_1)
    two_ids = tokenizer.convert_tokens_to_ids(OBJECTIVE_2)
    grid = preference_grid(2, 11)
    shares = []
    with torch.no_grad():
        for preference in grid:
            probs = model(input_ids=held_out, preference=preference).logits[:, -1].softmax(-1)
            one, two = probs[:, one_ids].sum(-1), probs[:, two_ids].sum(-1)
            shares.append((one / (one + two)).mean().item())
    rho = spearmanr(grid[:, 0].numpy(), shares).statistic
    assert rho >= 0.9, (rho, shares)
    assert shares[-1] - shares[0] > 0.1, shares  # observed 0.17-0.98 over those seeds and both settings


def objectives_scale():
    """The objectives-scale benchmark's module (benchmarks/ is not a package)."""
    path = Path(__file__).parent.parent / "benchmarks" / "objectives_scale.py"
    spec = importlib.util.spec_from_file_location("objectives_scale", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def scale_run(m: int, support: str, beta: float = 0.1, last_layer: bool = False) -> dict:
    """One seed-0, 150-step run of the objectives-scale benchmark, shared by the tests that compare against it.

    ``last_layer``: BENCHMARKS.md's many-objective recipe, the adapter only on the last layer's o_proj and down_proj
    at lr 0.1; otherwise the script's defaults (every projection, lr 3e-2).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return objectives_scale().run(
            m,
            150,
            0,
            "default",
            learning_rate=0.1 if last_layer else 3e-2,
            granularity="sample",
            sampling="vertex",
            support=support,
            beta=beta,
            target_modules=["o_proj", "down_proj"] if last_layer else None,
            layers=[1] if last_layer else None,
        )


def test_ten_objectives_steer_best_with_labelled_support_and_trls_dpo_beta():
    """The benchmark's ten-objective task (each pair labels 2 objectives), 150 steps, seed 0, as BENCHMARKS.md: its
    new settings (labelled support, beta 0.1) against whole-simplex draws and against the old beta 1."""
    labelled, simplex = scale_run(10, "labelled"), scale_run(10, "simplex")
    old_beta = scale_run(10, "labelled", beta=1.0)
    # grid Spearman is capped at 0.669 by ties at m = 10; seed 0 gave 0.655 / 0.362 / 0.518
    assert labelled["min_monotonicity"] > 0.6, labelled
    assert labelled["min_monotonicity"] > simplex["min_monotonicity"] + 0.1, (labelled, simplex)
    assert labelled["min_monotonicity"] > old_beta["min_monotonicity"] + 0.1, (labelled, old_beta)
    assert labelled["random_min_monotonicity"] > simplex["random_min_monotonicity"], (labelled, simplex)


def test_the_last_layers_output_projections_order_ten_objectives_as_far_as_the_grid_allows():
    """BENCHMARKS.md's many-objective recipe, seed 0: the adapter only on the last layer's o_proj and down_proj, lr
    0.1. At m = 10 every objective's grid Spearman reaches the ceiling the grid's ties allow, which the default
    targets (every projection, lr 3e-2) miss; at m = 5 the weakest objective passes 0.8 on the grid and on random
    preferences."""
    ten, ten_default = scale_run(10, "labelled", last_layer=True), scale_run(10, "labelled")
    five = scale_run(5, "simplex", last_layer=True)
    # seed 0 gave 0.669 (the ceiling) against 0.637, and 0.865 / 0.858 at m = 5
    assert ten["min_monotonicity"] == pytest.approx(ten["grid_ceiling"], abs=1e-3), ten
    assert ten_default["min_monotonicity"] < ten["grid_ceiling"] - 0.02, ten_default
    assert five["min_monotonicity"] >= 0.8 and five["random_min_monotonicity"] >= 0.8, five


def test_exact_policy_fit_recovers_sharpness_and_a_sharper_log_linear_policy_scores_lower():
    """The ten-objective reference BENCHMARKS.md quotes: the fit recovers a log-linear policy, shares =
    softmax(t * lambda + b), exactly, and the sharper such a policy steers, the lower its Spearman on random
    preferences, with no error at all."""
    bench = objectives_scale()
    preferences = PreferenceSampler(10, seed=1234).sample(128).numpy()
    offsets = np.log(np.linspace(0.02, 0.2, 10))

    def shares(sharpness: float) -> np.ndarray:
        weights = np.exp(sharpness * preferences + offsets)
        return weights / weights.sum(1, keepdims=True)

    fitted, fitted_offsets = bench.exact_policy(preferences, shares(20.0))
    assert fitted == pytest.approx(20.0, rel=1e-6)
    assert fitted_offsets == pytest.approx(offsets - offsets.mean(), abs=1e-6)
    spearmans = [bench.exact_policy_spearman(preferences, shares(t))[0] for t in (1.0, 10.0, 20.0)]
    assert spearmans[0] == pytest.approx(bench.weakest_monotonicity(preferences, shares(1.0)))
    assert spearmans[0] > 0.9 and spearmans[0] > spearmans[1] > spearmans[2]
    assert spearmans[2] < 0.8  # as sharp as training makes it (t ~ 20), no log-linear policy meets the 0.8


def test_linear_share_r2_is_one_for_log_shares_linear_in_the_weights_and_lower_otherwise():
    """The benchmark's ``lin R2`` column: cross-talk that is linear in lambda (a full m x m map) is fully explained;
    shares equal to the weights (log-shares log lambda, the metric's ideal) are not linear in them."""
    bench = objectives_scale()
    preferences = PreferenceSampler(10, seed=1234).sample(128).numpy()
    crosstalk = np.random.default_rng(0).normal(size=(10, 10)) * 5

    linear = preferences @ crosstalk
    assert bench.linear_share_r2(preferences, bench.softmax_shares(linear)) == pytest.approx(1.0, abs=1e-9)
    assert bench.linear_share_r2(preferences, preferences) < 0.8  # 0.70


def test_linear_fit_spearman_keeps_what_is_linear_in_the_weights_and_drops_the_rest():
    """The benchmark's ``lin fit`` column: a policy linear in lambda (uneven slopes, cross-talk) is its own fit, so
    it scores what the policy does; shares equal to the weights lose the non-linear part that orders them."""
    bench = objectives_scale()
    preferences = PreferenceSampler(10, seed=1234).sample(128).numpy()
    rng = np.random.default_rng(0)
    slopes = np.diag(rng.uniform(10, 25, size=10)) + rng.normal(size=(10, 10)) * 3

    uneven = bench.softmax_shares(preferences @ slopes)
    assert bench.linear_fit_spearman(preferences, uneven) == pytest.approx(
        bench.weakest_monotonicity(preferences, uneven), abs=1e-9
    )
    assert bench.weakest_monotonicity(preferences, preferences) == pytest.approx(1.0)
    assert bench.linear_fit_spearman(preferences, preferences) < 0.9  # 0.87


def test_objectives_scale_temperature_softens_the_scores_and_refuses_non_positive_values(monkeypatch, capsys):
    """``--temperature`` scores the same model at softmax(logits / T): above 1 its shares are nearer uniform; 0, a
    negative or a non-finite value is refused before anything is trained."""
    from peft import get_peft_model

    bench = objectives_scale()
    model = get_peft_model(bench.model(0), PanaceaConfig(pref_dim=3, init_panacea_weights=False)).eval()
    preferences = preference_grid(3, 3)

    def spread(temperature: float) -> float:
        result = bench.front(model, bench.tokenizer(), 3, random.Random(0), preferences, temperature)
        return float(np.abs(np.asarray(result.objectives) - 1 / 3).mean())

    assert spread(3.0) < 0.8 * spread(1.0)
    for bad in ("0", "-1", "nan"):
        monkeypatch.setattr("sys.argv", ["objectives_scale.py", "--temperature", bad])
        with pytest.raises(SystemExit):
            bench.main()
        assert "--temperature must be a finite number > 0" in capsys.readouterr().err
