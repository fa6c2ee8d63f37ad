"""Panacea configurations injected into PEFT's test matrices, and the upstream tests that do not apply to Panacea."""

from __future__ import annotations

from peft_panacea import PanaceaConfig

# (test name, model id, config class, config kwargs), the format of PEFT's TEST_CASES. Panacea adapts nn.Linear and
# transformers' Conv1D, so the MLP-like custom models and EmbConv1D are the ones that apply. Cases that adapt both
# layers of the plain MLP use lora_alpha = r (c = 1, LoRA's default scaling): the upstream training tests take 3 SGD
# steps at lr 0.5 on inputs up to 90, tuned for LoRA, and Panacea's default c = 2 diverges to NaN there (PEFT lowers
# the lr for the tuners where that happens; it has no entry for Panacea).
CUSTOM_MODEL_CASES = [
    ("Vanilla MLP 1 Panacea", "MLP", PanaceaConfig, {"target_modules": ["lin0"], "pref_dim": 2}),
    (
        "Vanilla MLP 2 Panacea",
        "MLP",
        PanaceaConfig,
        {"target_modules": ["lin0", "lin1"], "pref_dim": 2, "lora_alpha": 8},
    ),
    ("Vanilla MLP 3 Panacea", "MLP", PanaceaConfig, {"target_modules": "lin1", "pref_dim": 3}),
    (
        "Vanilla MLP 4 Panacea",
        "MLP",
        PanaceaConfig,
        {"target_modules": ["lin0"], "modules_to_save": ["lin1"], "pref_dim": 2},
    ),
    (
        "Vanilla MLP 5 Panacea",
        "MLP",
        PanaceaConfig,
        {
            "target_modules": ["lin0", "lin1"],
            "pref_dim": 2,
            "r": 4,
            "lora_alpha": 4,
            "lora_dropout": 0.1,
            "init_preference": [0.2, 0.8],
        },
    ),
    ("Vanilla MLP 6 Panacea", "MLP_LayerNorm", PanaceaConfig, {"target_modules": ["lin0", "lin1"], "pref_dim": 2}),
    (
        "Vanilla MLP 7 Panacea",
        "MLP",
        PanaceaConfig,
        {"target_modules": ["lin0"], "pref_dim": 2, "preference_names": ["a", "b"], "init_panacea_weights": "paper"},
    ),
    (
        "Embedding + transformers Conv1D 1 Panacea",
        "EmbConv1D",
        PanaceaConfig,
        {"target_modules": ["conv1d"], "pref_dim": 2},
    ),
]

# Upstream test name -> why it does not apply to Panacea.
NOT_APPLICABLE: dict[str, str] = {
    "test_adding_multiple_adapters_with_bias_raises": (
        "it builds configs with LoRA's bias='all'; Panacea has no trainable bias and refuses any bias other than "
        "'none' when the config is built"
    ),
}

# The format of PEFT's decoder ALL_CONFIGS; target_modules=None takes Panacea's default targets for the model type.
DECODER_CASES = [(PanaceaConfig, {"task_type": "CAUSAL_LM", "target_modules": None, "pref_dim": 2})]
