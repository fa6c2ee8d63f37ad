"""``PanaceaModel``: the PEFT tuner that injects Panacea layers and owns the runtime preference."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from peft.tuners.tuners_utils import BaseTuner, BaseTunerLayer
from peft.utils.integrations import gather_params_ctx
from torch import nn
from transformers.pytorch_utils import Conv1D

from ..compat.trl_compat import is_fused_lm_head_call
from .checks import check_adapter_weights_match
from .config import PanaceaConfig
from .export import check_export_directory, write_lora_adapter
from .layer import PanaceaLayer, PanaceaLinear, broken_merge_message
from .preference import PreferenceLike, PreferenceState
from .serving_export import check_exportable, check_serving_directory, write_basis, write_shared_merged, write_vertices

_ATTN_MLP = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# All attention and MLP projections, as in the paper; unknown architectures fall back to "all-linear".
TARGET_MODULES_MAPPING: dict[str, list[str]] = {
    "llama": _ATTN_MLP,
    "mistral": _ATTN_MLP,
    "mixtral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": _ATTN_MLP,
    "qwen3": _ATTN_MLP,
    "gemma": _ATTN_MLP,
    "gemma2": _ATTN_MLP,
    "gemma3_text": _ATTN_MLP,
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "opt": ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
    "falcon": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
}


class PanaceaModel(BaseTuner):
    """Creates Panacea adapters on a transformers model (use it through ``peft.get_peft_model``).

    Besides the usual tuner API it offers ``set_preference``, ``get_preference``, the ``preference`` context manager,
    ``orthogonal_regularization`` and ``export_lora``; ``PeftModel`` forwards these attribute look-ups here.

    Thread safety: forward and generate calls that pass ``preference=`` (or run inside ``with
    model.preference(...)``) may run concurrently from several threads, each at its own preference.
    ``set_preference``, merging, unmerging, loading or deleting adapters and training change state shared by every
    thread: do them while no other thread is using the model.
    """

    prefix: str = "panacea_"
    tuner_layer_cls = PanaceaLayer
    target_module_mapping = TARGET_MODULES_MAPPING

    def __init__(self, model: nn.Module, config: Any, adapter_name: str, **kwargs: Any) -> None:
        self.preference_states: dict[str, PreferenceState] = {}
        self.unloaded_adapters: set[str] = set()  # taken out by merge_and_unload() / unload()
        super().__init__(model, config, adapter_name, **kwargs)

    # ----------------------------------------------------------------------------------------- injection
    def _prepare_adapter_config(self, peft_config: PanaceaConfig, model_config: dict) -> PanaceaConfig:
        """Default targets by model type; a string entry stays a string (a regex, as in PEFT), unknown types fall
        back to "all-linear"."""
        if peft_config.target_modules is None:
            targets = self.target_module_mapping.get(model_config.get("model_type"))
            if not targets:
                peft_config.target_modules = "all-linear"
            elif isinstance(targets, str):
                peft_config.target_modules = targets
            else:
                peft_config.target_modules = set(targets)
        return peft_config

    def _check_new_adapter_config(self, config: PanaceaConfig) -> None:
        if not isinstance(config, PanaceaConfig):
            raise TypeError(f"A Panacea model needs a PanaceaConfig, got {type(config).__name__}.")
        super()._check_new_adapter_config(config)

    def _state_for(self, adapter_name: str, config: PanaceaConfig) -> PreferenceState:
        state = self.preference_states.get(adapter_name)
        if state is None:
            initial = torch.tensor(config.init_preference, dtype=torch.float32)
            state = PreferenceState(adapter_name, config.pref_dim, config.preference_names, initial)
            self.preference_states[adapter_name] = state
            self.unloaded_adapters.discard(adapter_name)
        return state

    def _create_and_replace(
        self,
        config: PanaceaConfig,
        adapter_name: str,
        target: nn.Module,
        target_name: str,
        parent: nn.Module,
        current_key: str,
        **optional_kwargs: Any,
    ) -> None:
        state = self._state_for(adapter_name, config)
        if isinstance(target, PanaceaLayer):
            target.update_layer(
                adapter_name,
                config.r,
                config.lora_alpha,
                config.lora_dropout,
                state,
                config.init_panacea_weights,
                config.inference_mode,
            )
            return
        base = target.get_base_layer() if isinstance(target, BaseTunerLayer) else target
        if isinstance(base, Conv1D):
            fan_in_fan_out = True
        elif isinstance(base, nn.Linear):
            fan_in_fan_out = False
        else:
            raise TypeError(
                f"Panacea supports torch.nn.Linear and transformers Conv1D, but '{current_key}' is "
                f"{type(base).__name__}; remove it from target_modules."
            )
        config.fan_in_fan_out = config.fan_in_fan_out or fan_in_fan_out  # recorded for export
        new_module = PanaceaLinear(
            target,
            adapter_name,
            r=config.r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            preference_state=state,
            init_weights=config.init_panacea_weights,
            fan_in_fan_out=fan_in_fan_out,
            inference_mode=config.inference_mode,
        )
        new_module.module_path = current_key
        if adapter_name not in self.active_adapters:
            new_module.requires_grad_(False)
        self._replace_module(parent, target_name, new_module, target)

    def delete_adapter(self, adapter_name: str) -> None:
        super().delete_adapter(adapter_name)
        self.preference_states.pop(adapter_name, None)

    # ---------------------------------------------------------------------------------------- preference
    def _active_state(self, adapter_name: str | None) -> PreferenceState:
        if not self.preference_states and self.unloaded_adapters:
            raise ValueError(
                f"The Panacea adapter(s) {sorted(self.unloaded_adapters)} were unloaded: merge_and_unload() / "
                "unload() returned the base model, which holds no Panacea layer, so there is no preference to set "
                "or read. Use the returned model (merged at the preference it had), or load the adapter again."
            )
        if adapter_name is None:
            active = [name for name in self.active_adapters if name in self.preference_states]
            if len(active) != 1:
                raise ValueError(
                    f"Cannot tell which adapter's preference to use among {active}; pass adapter_name=..."
                )
            adapter_name = active[0]
        if adapter_name not in self.preference_states:
            raise ValueError(f"Unknown Panacea adapter '{adapter_name}'; available: {sorted(self.preference_states)}.")
        return self.preference_states[adapter_name]

    def set_preference(
        self, preference: PreferenceLike, *, normalize: bool = False, adapter_name: str | None = None
    ) -> None:
        """Set the preference vector used by every layer of the adapter (O(1): one shared state object).

        ``preference`` is a sequence, array or tensor of shape (m,), a dict keyed by ``preference_names``, or a
        tensor of shape (batch, m) giving each sample its own preference. With gradient checkpointing, keep it set
        from the forward until after ``backward()``: the recomputed forward reads it again.

        This is the model's own preference, seen by every thread: setting it while another thread runs a forward
        is not thread-safe (that forward may mix the old and new values across layers). To serve several
        preferences concurrently, pass ``preference=`` to each call instead, which is scoped to its thread.
        """
        state = self._active_state(adapter_name)
        state.value = state.validate(preference, normalize)

    def get_preference(self, adapter_name: str | None = None) -> torch.Tensor:
        """A copy of the current preference, shape (m,) or (batch, m): inside a ``with model.preference(...)`` block
        or a ``preference=`` call that one, for the calling thread only."""
        return self._active_state(adapter_name).value.clone()

    @contextmanager
    def preference(
        self, preference: PreferenceLike, *, normalize: bool = False, adapter_name: str | None = None
    ) -> Iterator[None]:
        """Use ``preference`` inside the block, in this thread (or asyncio task) only: other threads keep seeing the
        model's own preference, and it is back on exit. Inference only: raises in training mode, where a backward
        after the block would recompute checkpointed layers with the other one. Inside the block, ``set_preference``
        and merging raise (the block's preference would hide or be merged in place of the model's own)."""
        if self.training:
            raise ValueError(
                "`with model.preference(...)` is for inference and the model is in training mode: a backward pass "
                "after the block (gradient checkpointing) would recompute the forward with another preference. Call "
                "`model.eval()` first, or `model.set_preference(p)` and keep it until after backward()."
            )
        with self._preference_for_block(preference, normalize, adapter_name):
            yield

    @contextmanager
    def _preference_for_block(
        self, preference: PreferenceLike, normalize: bool, adapter_name: str | None
    ) -> Iterator[None]:
        state = self._active_state(adapter_name)
        with state.call_scoped(state.validate(preference, normalize)):
            yield

    @contextmanager
    def _enable_peft_forward_hooks(self, *args: Any, **kwargs: Any) -> Iterator[None]:
        """Applies a ``preference=`` keyword of ``PeftModel.forward``/``generate`` for the duration of the call, in
        the calling thread only: concurrent calls with different preferences each get their own."""
        preference = kwargs.get("preference")
        if preference is None:
            yield
            return
        if self.training:
            raise ValueError(
                "Cannot pass `preference=` while the model is in training mode: with gradient checkpointing the "
                "backward pass would recompute the forward with another preference. Call "
                "`model.set_preference(p)` before the forward and keep it until after backward()."
            )
        with self._preference_for_block(preference, False, None):
            yield

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        """Generate, repeating per-sample preferences to match the beams / return sequences (for this call only)."""
        states = [self.preference_states[n] for n in self.active_adapters if n in self.preference_states]
        expand = _generation_expand_size(self.model, kwargs)
        with ExitStack() as stack:
            for state in states:
                if expand > 1 and state.is_per_sample:
                    stack.enter_context(state.call_scoped(state.value.repeat_interleave(expand, dim=0)))
            return self.model.generate(*args, **kwargs)

    # --------------------------------------------------------------------------------- merge and penalties
    def _check_merge_allowed(self) -> None:
        super()._check_merge_allowed()
        scoped = [n for n, state in self.preference_states.items() if state.is_call_scoped]
        if scoped:
            raise RuntimeError(
                f"Cannot merge adapter(s) {scoped} inside a `with model.preference(...)` block or a call with "
                "`preference=`: the merged weights would hold the block's preference while the model keeps its "
                "own. Merge outside the block, after `set_preference(p)`."
            )
        per_sample = [
            n for n in self.active_adapters if n in self.preference_states and self.preference_states[n].is_per_sample
        ]
        if per_sample:
            raise ValueError(
                f"Cannot merge adapter(s) {per_sample} while a per-sample (batch, m) preference is set: merged "
                "weights hold one preference. Call set_preference with a single (m,) vector first."
            )

    def merge_adapter(self, adapter_names: list[str] | None = None, safe_merge: bool = False) -> None:
        """PEFT's ``merge_adapter``, all or nothing: with ``safe_merge`` every layer's merged weight is checked for
        NaN/inf before any layer is changed."""
        if safe_merge:
            self._check_merged_weights_are_finite(adapter_names)
        super().merge_adapter(adapter_names=adapter_names, safe_merge=safe_merge)

    def _unload_and_optionally_merge(
        self,
        merge: bool = True,
        progressbar: bool = False,
        safe_merge: bool = False,
        adapter_names: list[str] | None = None,
    ) -> nn.Module:
        if merge and safe_merge:  # before PEFT merges and unloads the first layer
            self._check_merged_weights_are_finite(adapter_names)
        model = super()._unload_and_optionally_merge(merge, progressbar, safe_merge, adapter_names)
        self.unloaded_adapters |= set(self.preference_states)  # no layer reads these states any more
        self.preference_states.clear()
        return model

    def _check_merged_weights_are_finite(self, adapter_names: list[str] | None) -> None:
        self._check_merge_allowed()
        for _, layer in self.panacea_layers():
            names = adapter_names if adapter_names is not None else layer.active_adapters
            for name in names:
                if name in layer.panacea_A and name not in layer.merged_adapters:
                    merged, _ = layer.merged_weight(name)
                    if not torch.isfinite(merged).all():
                        raise ValueError(broken_merge_message(name))

    def panacea_layers(self) -> Iterator[tuple[str, PanaceaLayer]]:
        """``(module path, layer)`` for every Panacea layer of the wrapped model."""
        for name, module in self.model.named_modules():
            if isinstance(module, PanaceaLayer):
                yield name, module

    def preference_directions(self, adapter_name: str | None = None) -> list[torch.Tensor]:
        """Views of every layer's preference-only weights (see ``PanaceaLayer.preference_directions``)."""
        adapter_name = self._active_state(adapter_name).adapter_name
        return [
            view
            for _, layer in self.panacea_layers()
            if adapter_name in layer.panacea_A
            for view in layer.preference_directions(adapter_name)
        ]

    def orthogonal_regularization(self, adapter_name: str | None = None) -> torch.Tensor:
        """AdaLoRA-style penalty: mean over U and V^T of ``||P P^T - I||_F`` (rows of V^T, columns of U)."""
        adapter_name = self._active_state(adapter_name).adapter_name
        terms = []
        for _, layer in self.panacea_layers():
            if adapter_name not in layer.panacea_A:
                continue
            for weight, rows in (
                (layer.panacea_A[adapter_name].weight, True),
                (layer.panacea_B[adapter_name].weight, False),
            ):
                with gather_params_ctx(weight, fwd_module=self):
                    gram = weight @ weight.T if rows else weight.T @ weight
                    eye = torch.eye(gram.shape[0], device=gram.device, dtype=gram.dtype)
                    terms.append(torch.linalg.matrix_norm(gram - eye))
        if not terms:
            raise ValueError(f"Adapter '{adapter_name}' has no layers to regularise.")
        return torch.stack(terms).mean()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the model; adds ``orth_reg_weight * orthogonal_regularization()`` to a returned training loss.

        Skipped for TRL's fused LM head: TRL never reads that loss, and the Panacea trainers add the penalty
        themselves, so computing it over every layer on each forward would be wasted work.
        """
        outputs = self.model(*args, **kwargs)  # through __call__, so forward hooks on the wrapped model fire
        loss = getattr(outputs, "loss", None)
        if self.training and isinstance(loss, torch.Tensor) and not is_fused_lm_head_call(kwargs):
            weight = self.peft_config[self.active_adapters[0]].orth_reg_weight
            if weight > 0:
                outputs.loss = loss + weight * self.orthogonal_regularization()
        return outputs

    # -------------------------------------------------------------------------------------------- export
    def export_lora(
        self,
        save_directory: str,
        preference: PreferenceLike | None = None,
        *,
        normalize: bool = False,
        adapter_name: str | None = None,
        overwrite: bool = False,
    ) -> str:
        """Write the adapter at one preference as a standard PEFT LoRA (rank r+m) that needs no peft_panacea.

        The directory loads with plain ``PeftModel.from_pretrained`` and serves on any LoRA server (vLLM, TGI,
        LoRAX). Uses the current preference when ``preference`` is None. A directory that already holds an adapter
        (the trained Panacea adapter, say) is refused unless ``overwrite=True``. Returns ``save_directory``.
        """
        state = self._active_state(adapter_name)
        check_export_directory(save_directory, overwrite)
        if preference is None:
            return self._write_lora(state, save_directory)
        with self._preference_for_block(preference, normalize, state.adapter_name):
            return self._write_lora(state, save_directory)

    def _write_lora(self, state: PreferenceState, save_directory: str) -> str:
        config = self.peft_config[state.adapter_name]
        return write_lora_adapter(self.model, config, state.adapter_name, state.value, save_directory)

    def export_lora_basis(
        self, save_directory: str, *, adapter_name: str | None = None, overwrite: bool = False
    ) -> str:
        """Write the adapter for servers that scale LoRAs per request: a shared rank-r LoRA (``shared/``, scale 1),
        one rank-1 LoRA per objective (``objective_i/``, scale lambda_i) and the manifest ``panacea_serving.json``.

        Every folder is a plain PEFT LoRA; activating them all at those scales is the adapter at lambda, exactly.
        A non-empty folder is refused unless ``overwrite=True``. Returns ``save_directory``.
        """
        return self._export_for_serving(write_basis, save_directory, adapter_name, overwrite)

    def export_lora_vertices(
        self, save_directory: str, *, adapter_name: str | None = None, overwrite: bool = False
    ) -> str:
        """Write the m pure-preference LoRAs (``vertex_i/``, rank r+m, scale lambda_i) and the manifest: the form
        for servers that take equal-rank adapters only, or that merge adapters per request (LoRAX)."""
        return self._export_for_serving(write_vertices, save_directory, adapter_name, overwrite)

    def export_shared_merged(
        self, save_directory: str, *, adapter_name: str | None = None, overwrite: bool = False
    ) -> str:
        """Write a new base checkpoint (``base/``) with the preference-free shared part merged into its weights,
        the m rank-1 LoRAs on top of it (``objective_i/``, scale lambda_i) and the manifest: a request then carries
        only rank-1 adapters."""
        return self._export_for_serving(write_shared_merged, save_directory, adapter_name, overwrite)

    def _export_for_serving(
        self,
        writer: Callable[[nn.Module, PanaceaConfig, str, str], str],
        save_directory: str,
        adapter_name: str | None,
        overwrite: bool,
    ) -> str:
        state = self._active_state(adapter_name)
        config = self.peft_config[state.adapter_name]
        check_exportable(self.model, config)
        check_serving_directory(str(save_directory), overwrite)
        return writer(self.model, config, state.adapter_name, str(save_directory))

    # ---------------------------------------------------------------------------------------- load checks
    @classmethod
    def _remap_adapter_state_dict_for_load(
        cls, model: nn.Module, config: Any, adapter_name: str, state_dict: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        remapped = super()._remap_adapter_state_dict_for_load(model, config, adapter_name, state_dict)
        check_adapter_weights_match(model, config, adapter_name, remapped)
        return remapped


def _generation_expand_size(model: nn.Module, kwargs: dict[str, Any]) -> int:
    """How many rows ``generate`` makes of each input row: ``max(num_beams, num_return_sequences)``."""
    config = kwargs.get("generation_config") or getattr(model, "generation_config", None)
    beams = kwargs.get("num_beams") or getattr(config, "num_beams", 1) or 1
    returns = kwargs.get("num_return_sequences") or getattr(config, "num_return_sequences", 1) or 1
    return max(beams, returns)


def set_preference(
    model: nn.Module, preference: PreferenceLike, *, normalize: bool = False, adapter_name: str | None = None
) -> None:
    """``set_preference`` for any module holding Panacea layers, e.g. after transformers' ``model.load_adapter``.

    Without a ``PeftModel`` wrapper there is no tuner object to call, so this finds the adapter's shared
    preference state on the first Panacea layer.
    """
    states: dict[str, PreferenceState] = {}
    for module in model.modules():
        if isinstance(module, PanaceaLayer):
            active = [name for name in module.active_adapters if name in module.panacea_pref]
            states = {name: module.panacea_pref[name] for name in active}
            break
    if not states:
        raise ValueError("The model has no active Panacea adapter; load one first (import peft_panacea).")
    if adapter_name is None:
        if len(states) != 1:
            raise ValueError(f"Several active Panacea adapters {sorted(states)}; pass adapter_name=...")
        adapter_name = next(iter(states))
    if adapter_name not in states:
        raise ValueError(f"Adapter '{adapter_name}' is not an active Panacea adapter; active: {sorted(states)}.")
    state = states[adapter_name]
    state.value = state.validate(preference, normalize)
