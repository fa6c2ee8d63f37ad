"""Every upstream private hook listed in peft_panacea.compat still exists with the parameters the code relies on:
a PEFT/TRL/transformers bump that moves one fails here, naming it, instead of training wrongly."""

import warnings

import pytest
from peft import PeftModel

from peft_panacea import PanaceaConfig
from peft_panacea.compat import Hook, peft_compat, transformers_compat, trl_compat
from peft_panacea.tuner import registration
from peft_panacea.tuner._peft_type import PANACEA

ALL_HOOKS = [*peft_compat.HOOKS, *trl_compat.HOOKS, *transformers_compat.HOOKS]


@pytest.mark.parametrize("hook", ALL_HOOKS, ids=lambda hook: f"{hook.owner}.{hook.name}")
def test_upstream_hook_is_still_there(hook):
    assert hook.problem() is None, f"{hook.problem()} (used for: {hook.used_for})"


@pytest.mark.parametrize(
    "hook, message",
    [
        (Hook("trl.DPOTrainer", "_no_such_method", "x", ("self",)), "no longer exists"),
        (Hook("trl.DPOTrainer", "_compute_loss", "x", ("self", "model", "batch")), "now takes"),
        (Hook("trl.DPOTrainer", "_no_such_attribute", "x", instance_attribute=True), "no longer set"),
        (Hook("trl.NoSuchTrainer", "train", "x"), "no longer exists"),
    ],
)
def test_a_moved_hook_is_reported(hook, message):
    assert message in hook.problem()


def test_missing_cosmetic_hook_warns_and_is_skipped():
    class Bare:
        """A PeftModel-like class from a version without the card hooks."""

    with pytest.warns(UserWarning, match="_upload_modified_files is missing"):
        registration.patch_model_card(Bare)
    assert not hasattr(Bare, "_upload_modified_files")


def test_push_card_without_peft_card_update_still_gets_the_panacea_section(tmp_path):
    class Uploader:
        """A Panacea PeftModel-like class from a PEFT version without ``create_or_update_model_card``."""

        peft_type = PANACEA
        peft_config = {"default": PanaceaConfig(pref_dim=2, preference_names=["short", "polite"])}
        active_adapter = "default"

        def _upload_modified_files(self, working_dir, repo_id, files_timestamps):
            return (tmp_path / "README.md").read_text()

    with pytest.warns(UserWarning, match="create_or_update_model_card is missing"):
        registration.patch_model_card(Uploader)
    card = Uploader()._upload_modified_files(str(tmp_path), "me/panacea", {})
    assert "1. `short`\n2. `polite`" in card


def test_registered_patches_are_in_place():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registration.register()
    assert getattr(PeftModel._upload_modified_files, registration.PATCHED)
    assert getattr(PeftModel.create_or_update_model_card, registration.PATCHED)
