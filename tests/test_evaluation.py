"""Front metrics on hand-computed fronts, evaluate_front on a tiny model, and the plots."""

import json

import numpy as np
import pytest

from peft_panacea.evaluation import FrontResult, evaluate_front, evaluate_policies
from peft_panacea.sampling import preference_grid

from .models import panacea_model, tiny_tokenizer


def front(points, prefs=None, names=None):
    points = np.asarray(points, dtype=float)
    prefs = np.asarray(prefs if prefs is not None else preference_grid(points.shape[1], len(points))[: len(points)])
    names = names or [f"o{i}" for i in range(points.shape[1])]
    return FrontResult(prefs, points, points[:, None, :], names)


def test_hypervolume_2d_and_3d_and_reference_point_is_stored():
    result = front([[1, 3], [2, 2], [3, 1]], prefs=[[0, 1], [0.5, 0.5], [1, 0]])
    assert result.hypervolume([0, 0]) == pytest.approx(3 + 2 + 1)
    assert result.reference_point.tolist() == [0, 0]
    assert result.hypervolume([1, 1]) == pytest.approx(1.0)  # only (2, 2) rises above (1, 1) on both axes
    three = front([[2, 1, 1], [1, 2, 1]], prefs=[[1, 0, 0], [0, 1, 0]])
    assert three.hypervolume([0, 0, 0]) == pytest.approx(2 + 2 - 1)
    with pytest.raises(ValueError, match="needs 3 values"):
        three.hypervolume([0, 0])


def test_sparsity_spacing_inner_product():
    assert front([[1, 3], [2, 2], [3, 1]]).sparsity() == pytest.approx((1 + 1 + 1 + 1) / (2 * 2))
    assert front([[1, 3], [2, 2], [3, 1]]).spacing() == pytest.approx(0.0)
    assert front([[0, 0], [1, 0], [3, 0]]).spacing() == pytest.approx(np.sqrt(6 / 27))
    assert front([[2, 5], [3, 4]], prefs=[[1, 0], [0, 1]]).inner_product() == pytest.approx(3.0)


def test_monotonicity_is_spearman_of_weight_and_score():
    prefs = preference_grid(2, 5).numpy()  # weight of objective 0 rises 0 -> 1
    rising = front(np.stack([prefs[:, 0] ** 2, 1 - prefs[:, 0]], 1), prefs=prefs, names=["a", "b"])
    assert rising.monotonicity() == pytest.approx({"a": 1.0, "b": 1.0})
    backwards = front(np.stack([1 - prefs[:, 0], prefs[:, 0]], 1), prefs=prefs, names=["a", "b"])
    assert backwards.monotonicity() == pytest.approx({"a": -1.0, "b": -1.0})


def test_json_round_trip_keeps_metrics_and_reference_point(tmp_path):
    result = front([[1, 3], [2, 2], [3, 1]], prefs=[[0, 1], [0.5, 0.5], [1, 0]])
    result.to_json(tmp_path / "front.json", reference_point=[0, 0])
    data = json.loads((tmp_path / "front.json").read_text())
    assert data["metrics"]["hypervolume"] == pytest.approx(6)
    assert data["metrics"]["reference_point"] == [0, 0]
    assert data["objectives"] == [[1, 3], [2, 2], [3, 1]]


@pytest.mark.parametrize("m", [2, 3, 5])
def test_plots_are_valid_pngs(tmp_path, m):
    rng = np.random.default_rng(0)
    prefs = preference_grid(m, 3).numpy()
    result = front(rng.random((len(prefs), m)), prefs=prefs)
    result.plot(tmp_path / "front.png", baselines={"soup": rng.random((3, m))})
    data = (tmp_path / "front.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def low_tokens(prompts, completions, **kwargs):
    return [sum(int(w[1:]) < 48 for w in c.split() if w[1:].isdigit()) for c in completions]


def high_tokens(prompts, completions, **kwargs):
    return [sum(int(w[1:]) >= 48 for w in c.split() if w[1:].isdigit()) for c in completions]


def test_evaluate_front_mixed_preference_batches_match_one_preference_at_a_time():
    model = panacea_model("llama", seed=3)
    tokenizer = tiny_tokenizer()
    prompts = ["w5 w6 w7", "w20 w21 w22", "w60 w61 w62"]
    grid = preference_grid(2, 5)
    mixed = evaluate_front(
        model, tokenizer, prompts, [low_tokens, high_tokens], grid, batch_size=8, max_new_tokens=5, progress=False
    )
    single = evaluate_front(
        model,
        tokenizer,
        prompts,
        [low_tokens, high_tokens],
        grid,
        batch_size=len(prompts),
        max_new_tokens=5,
        progress=False,
    )
    assert mixed.objective_names == ["low_tokens", "high_tokens"]
    assert mixed.per_prompt.shape == (5, 3, 2)
    assert mixed.completions == single.completions
    np.testing.assert_allclose(mixed.objectives, single.objectives)
    for i, pref in enumerate(grid):  # and each equals a plain generate at that preference
        ids = tokenizer(prompts, return_tensors="pt")["input_ids"]
        out = model.generate(input_ids=ids, preference=pref, max_new_tokens=5, do_sample=False, pad_token_id=0)
        texts = tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
        assert texts == mixed.completions[i]


def test_evaluate_policies_calls_select_per_preference_and_matches_evaluate_front():
    model = panacea_model("llama", seed=3)
    tokenizer = tiny_tokenizer()
    prompts = ["w5 w6 w7", "w20 w21 w22", "w60 w61 w62"]
    grid = preference_grid(2, 4)
    asked = []

    def select(preference):
        asked.append(preference)
        model.set_preference(preference)
        return model

    rewards = [low_tokens, high_tokens]
    policies = evaluate_policies(
        select, tokenizer, prompts, rewards, grid, batch_size=2, max_new_tokens=5, progress=False
    )
    front = evaluate_front(model, tokenizer, prompts, rewards, grid, max_new_tokens=5, progress=False)
    assert asked == grid.tolist()
    assert policies.completions == front.completions
    np.testing.assert_allclose(policies.objectives, front.objectives)
    assert len({tuple(row) for row in policies.completions}) > 1  # the preferences really gave different policies


def test_evaluate_front_rejects_bad_preferences():
    with pytest.raises(ValueError, match="shape \\(P, 2\\)"):
        evaluate_front(panacea_model("llama"), tiny_tokenizer(), ["w1"], [low_tokens, high_tokens], [[1.0, 0, 0]])


def nan_for_first(prompts, completions, **kwargs):
    return [float("nan"), *low_tokens(prompts, completions)[1:]]


def one_too_few(prompts, completions, **kwargs):
    return low_tokens(prompts, completions)[:-1]


@pytest.mark.parametrize(
    "reward, message",
    [
        (nan_for_first, "'nan_for_first' returned 1 NaN, None or infinite scores"),
        (one_too_few, "'one_too_few' returned 5 scores of shape \\(5,\\) for 6 completions"),
    ],
)
def test_a_bad_reward_output_is_named_instead_of_a_nan_front(reward, message):
    with pytest.raises(ValueError, match=message):
        evaluate_front(
            panacea_model("llama"),
            tiny_tokenizer(),
            ["w1 w2", "w3"],
            [reward, high_tokens],
            preference_grid(2, 3),
            max_new_tokens=2,
            progress=False,
        )


@pytest.mark.parametrize("batch_size", [0, -1])
def test_a_batch_size_below_one_is_refused(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        evaluate_front(
            panacea_model("llama"), tiny_tokenizer(), ["w1"], [low_tokens, high_tokens], batch_size=batch_size
        )


def test_evaluate_front_gives_back_the_training_mode():
    model = panacea_model("llama").train()
    evaluate_front(
        model, tiny_tokenizer(), ["w1"], [low_tokens, high_tokens], n_points=2, max_new_tokens=2, progress=False
    )
    assert model.training


def test_json_is_strict(tmp_path):
    result = FrontResult(np.eye(2), np.array([[0.1, np.nan], [0.2, 0.3]]), np.zeros((2, 1, 2)), ["a", "b"])
    with pytest.raises(ValueError, match="not JSON compliant"):
        result.to_json(tmp_path / "front.json")
