"""TRL options that the Panacea DPO/SFT losses do not implement are refused at config construction, by name."""

import pytest

from peft_panacea.trainer import PanaceaDPOConfig, PanaceaSFTConfig
from peft_panacea.trainer.dpo_config import UNSUPPORTED_DPO_OPTIONS
from peft_panacea.trainer.sft_config import UNSUPPORTED_SFT_OPTIONS

DPO_CASES = {
    "loss_type": ["exo_pair", ["sigmoid", "hinge"]],
    "loss_weights": [[1.0]],
    "label_smoothing": [0.1],
    "use_weighting": [True],
    "f_divergence_type": ["js_divergence"],
    "ld_alpha": [0.5],
    "router_aux_loss_coef": [0.01],
    "sync_ref_model": [True],
}
SFT_CASES = {
    "packing": [True],
    "padding_free": [True],
    "loss_type": ["dft"],
    "label_smoothing_factor": [0.1],
    "router_aux_loss_coef": [0.01],
}


def _cases(config_cls, cases):
    return [(config_cls, name, value) for name, values in cases.items() for value in values]


def test_every_refused_option_is_tested():
    assert {option.name for option in UNSUPPORTED_DPO_OPTIONS} == DPO_CASES.keys()
    assert {option.name for option in UNSUPPORTED_SFT_OPTIONS} == SFT_CASES.keys()


@pytest.mark.parametrize(
    "config_cls, name, value", _cases(PanaceaDPOConfig, DPO_CASES) + _cases(PanaceaSFTConfig, SFT_CASES)
)
def test_unsupported_trl_option_is_refused_by_name(config_cls, name, value):
    with pytest.raises(ValueError, match=rf"does not support `{name}=.*Panacea loss"):
        config_cls(output_dir="unused", report_to=[], **{name: value})


@pytest.mark.parametrize("config_cls", [PanaceaDPOConfig, PanaceaSFTConfig])
def test_trl_defaults_are_accepted(config_cls):
    config_cls(output_dir="unused", report_to=[], bf16=False)
