import numpy as np
import pytest

from peft_panacea import PanaceaConfig


def test_defaults():
    config = PanaceaConfig(pref_dim=3)
    assert config.r == 8 and config.init_panacea_weights is True and config.lora_alpha == 16  # c = 2, as LoRA 2r
    assert config.init_preference == pytest.approx([1 / 3] * 3)
    assert config.orth_reg_weight == 0
    assert config.peft_type == "PANACEA"
    assert config.objective_names == ["objective_0", "objective_1", "objective_2"]


def test_the_paper_recipe_is_one_option_away():
    config = PanaceaConfig(pref_dim=2, init_panacea_weights="paper")
    assert config.r == 8 and config.lora_alpha == 512  # the paper's multiplier c = 64
    assert PanaceaConfig(pref_dim=2, init_panacea_weights="paper", lora_alpha=32).lora_alpha == 32


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "pref_dim` is required"),
        ({"pref_dim": 1}, "pref_dim` must be an integer >= 2"),
        ({"pref_dim": 2.0}, "pref_dim` must be an integer >= 2"),
        ({"pref_dim": 2, "r": 0}, "`r` must be a positive integer"),
        ({"pref_dim": 2, "lora_alpha": 0}, "`lora_alpha` must be a finite number > 0"),
        ({"pref_dim": 2, "lora_alpha": float("inf")}, "`lora_alpha` must be a finite number > 0"),
        ({"pref_dim": 2, "lora_alpha": float("nan")}, "`lora_alpha` must be a finite number > 0"),
        ({"pref_dim": 2, "lora_alpha": "16"}, "`lora_alpha` must be a finite number > 0"),
        ({"pref_dim": 2, "orth_reg_weight": float("inf")}, "`orth_reg_weight` must be a finite number >= 0"),
        ({"pref_dim": 2, "preference_names": "ab"}, "a list of 2 names, not the string 'ab'"),
        ({"pref_dim": 2, "init_preference": {"a": 0.5, "b": 0.5}}, "needs `preference_names`"),
        ({"pref_dim": 2, "preference_names": ["a", "b"], "init_preference": {"a": 0.5}}, "missing names \\['b'\\]"),
        ({"pref_dim": 2, "init_panacea_weights": "gaussian"}, "`init_panacea_weights` must be True"),
        ({"pref_dim": 2, "lora_dropout": 1.0}, "`lora_dropout` must be in"),
        ({"pref_dim": 2, "orth_reg_weight": -0.1}, "`orth_reg_weight` must be a finite number >= 0"),
        ({"pref_dim": 2, "bias": "all"}, "only bias='none'"),
        ({"pref_dim": 2, "preference_names": ["a"]}, "has 1 names but pref_dim=2"),
        ({"pref_dim": 2, "preference_names": ["a", "a"]}, "must be unique"),
        ({"pref_dim": 2, "init_preference": [0.5, 0.6]}, "sums to"),
        ({"pref_dim": 2, "init_preference": [1.0]}, "length 1"),
        ({"pref_dim": 2, "init_preference": [[0.5, 0.5]]}, "single vector"),
        ({"pref_dim": 2, "layers_pattern": "layers"}, "only used together with `layers_to_transform`"),
        ({"pref_dim": 2, "target_modules": ".*q_proj", "layers_to_transform": [0]}, "regex"),
    ],
)
def test_invalid_values_raise_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PanaceaConfig(**kwargs)


def test_round_trip_through_json(tmp_path):
    config = PanaceaConfig(pref_dim=2, preference_names=["helpful", "harmless"], init_preference=[0.2, 0.8])
    config.save_pretrained(tmp_path)
    loaded = PanaceaConfig.from_pretrained(tmp_path)
    assert loaded.preference_names == ["helpful", "harmless"]
    assert loaded.init_preference == pytest.approx([0.2, 0.8])
    assert loaded.peft_type == "PANACEA"


def test_rank_is_r_plus_pref_dim():
    config = PanaceaConfig(r=8, pref_dim=3)
    assert config.rank == 11 and "rank" not in config.to_dict()  # derived, not saved


def test_numpy_integers_and_a_dict_init_preference_are_accepted():
    config = PanaceaConfig(
        pref_dim=np.int64(2),
        r=np.int32(4),
        preference_names=("helpful", "harmless"),
        init_preference={"harmless": 0.75, "helpful": 0.25},
    )
    assert (config.pref_dim, config.r) == (2, 4) and type(config.pref_dim) is int and type(config.r) is int
    assert config.preference_names == ["helpful", "harmless"]
    assert config.init_preference == [0.25, 0.75]  # in the order of preference_names
    assert config.lora_alpha == 8
