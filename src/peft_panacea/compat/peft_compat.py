"""PEFT 0.21 internals used by the tuner (``tuner/``), and the helpers that reach them.

Besides the ``HOOKS`` below, the tuner follows PEFT's public tuner contract (``BaseTuner``/``BaseTunerLayer``
subclasses, ``register_peft_method``); those overridden methods are private by name, so they are listed too.
"""

from __future__ import annotations

from peft.tuners.tuners_utils import _get_in_out_features
from peft.utils import PeftType
from torch import nn

from . import Hook

_TUNER = "peft.tuners.tuners_utils.BaseTuner"
_LAYER = "peft.tuners.tuners_utils.BaseTunerLayer"
_ENUM = "peft.utils.peft_types.PeftType"

HOOKS: tuple[Hook, ...] = (
    Hook(_ENUM, "_member_names_", "ensure_peft_type: add PANACEA to PEFT's closed adapter-type enum"),
    Hook(_ENUM, "_member_map_", "ensure_peft_type: PeftType['PANACEA'] and PeftType.__members__"),
    Hook(_ENUM, "_value2member_map_", "ensure_peft_type: PeftType('PANACEA') from adapter_config.json"),
    Hook(
        "peft.utils.peft_types",
        "register_peft_method",
        "registration: config, tuner and 'panacea_' prefix in PEFT's mappings",
        ("name", "config_cls", "model_cls", "prefix"),
    ),
    Hook("peft.mapping", "PEFT_TYPE_TO_CONFIG_MAPPING", "registration: skip when PANACEA is already registered"),
    Hook("peft.tuners.tuners_utils", "_get_in_out_features", "layer: in/out features of Linear/Conv1D", ("module",)),
    Hook(
        _TUNER,
        "_create_and_replace",
        "override: wrap each target module in a PanaceaLinear",
        ("self", "peft_config", "adapter_name", "target", "target_name", "parent", "current_key"),
    ),
    Hook(_TUNER, "_prepare_adapter_config", "override: default targets", ("self", "peft_config", "model_config")),
    Hook(_TUNER, "_check_new_adapter_config", "override: refuse non-Panacea configs", ("self", "config")),
    Hook(
        _TUNER,
        "_replace_module",
        "call: swap the target for its PanaceaLinear",
        ("self", "parent", "child_name", "new_module", "child"),
    ),
    Hook(_TUNER, "_check_merge_allowed", "override: refuse merging a per-sample preference", ("self",)),
    Hook(
        _TUNER,
        "_unload_and_optionally_merge",
        "override: check every layer's merged weight before merge_and_unload(safe_merge=True) changes any",
        ("self", "merge", "progressbar", "safe_merge", "adapter_names"),
    ),
    Hook(
        _TUNER,
        "_remap_adapter_state_dict_for_load",
        "override: check saved shapes against the config before loading",
        ("model", "config", "adapter_name", "state_dict"),
    ),
    Hook(
        "peft.peft_model.PeftModel",
        "_enable_peft_forward_hooks",
        "duck-typed on the tuner: apply a preference= keyword for one forward/generate",
        ("self",),
    ),
    Hook(
        "peft.peft_model.PeftModel",
        "special_peft_forward_args",
        "registration: 'preference' is consumed instead of reaching the transformers model",
        instance_attribute=True,
    ),
    Hook(
        "peft.peft_model.PeftModel",
        "from_pretrained",
        "loading (wrapped): give the base model back when loading a Panacea adapter fails",
        ("model", "model_id", "adapter_name"),
    ),
    Hook(
        "peft.peft_model.PeftModel",
        "save_pretrained",
        "registration (wrapped): the card of each adapter saved in a sub-folder",
        ("self", "save_directory", "safe_serialization", "selected_adapters"),
    ),
    Hook(
        "peft.peft_model.PeftModel",
        "load_adapter",
        "loading (wrapped): delete the Panacea adapter a failed load added",
        ("self", "model_id", "adapter_name"),
    ),
    Hook(
        "peft.config.PeftConfigMixin",
        "from_pretrained",
        "config (overridden): check the saved ranks when a config is read",
        ("pretrained_model_name_or_path", "subfolder"),
    ),
    Hook(_LAYER, "_move_adapter_to_device_of_base_layer", "layer: new weights on the base layer's device", ("self",)),
    Hook(_LAYER, "_cast_input_dtype", "layer: cast the input to the adapter's dtype", ("self", "x", "dtype")),
    Hook(_LAYER, "_disable_adapters", "layer: initial adapter-enabled state", instance_attribute=True),
    Hook(_LAYER, "_active_adapter", "layer: initial active adapter", instance_attribute=True),
    Hook(
        "peft.utils.integrations",
        "gather_params_ctx",
        "orthogonal_regularization under DeepSpeed ZeRO-3",
        ("param", "modifier_rank", "fwd_module"),
    ),
    Hook(
        "peft.utils.other",
        "transpose",
        "layer: delta weight in Conv1D's (in, out) layout",
        ("weight", "fan_in_fan_out"),
    ),
    Hook(
        "peft.utils.ModulesToSaveWrapper",
        "modules_to_save",
        "export: copy modules_to_save into the exported LoRA",
        instance_attribute=True,
    ),
)


def in_out_features(module: nn.Module) -> tuple[int | None, int | None]:
    """``(in_features, out_features)`` of a Linear/Conv1D-like module, ``(None, None)`` when PEFT cannot tell."""
    return _get_in_out_features(module)


def ensure_peft_type(name: str) -> PeftType:
    """Return ``PeftType[name]``, creating the member first if PEFT does not define it.

    PEFT's registry only accepts names already in its closed ``PeftType`` enum, and transformers' adapter
    integration calls ``peft_type.value``, so a plain string is not enough. This writes CPython ``enum``
    internals (idempotently), which is why peft is pinned to a minor version.
    """
    if name in PeftType.__members__:
        return PeftType[name]
    member = str.__new__(PeftType, name)
    member._name_ = name
    member._value_ = name
    member.__objclass__ = PeftType
    if hasattr(PeftType, "_sort_order_"):
        member._sort_order_ = len(PeftType._member_names_)
    # EnumType.__setattr__ refuses to rebind members, so bypass it for the new attribute.
    type.__setattr__(PeftType, name, member)
    PeftType._member_names_.append(name)
    PeftType._member_map_[name] = member
    PeftType._value2member_map_[name] = member
    return member
