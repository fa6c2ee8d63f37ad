"""The no-grad forward reuses each layer's scaled diagonal, and never a stale one: outputs equal the autograd
path (which never caches) after every way the preference or the weights can change."""

import copy

import pytest
import torch

from .models import panacea_model


def outputs_agree(model, input_ids) -> torch.Tensor:
    """The cached no-grad logits, checked against the uncached autograd path (a diagonal cached under
    inference_mode is an inference tensor: a later plain no-grad forward must still be able to use it)."""
    with torch.inference_mode():
        model(input_ids=input_ids)
    with torch.no_grad():
        cached = model(input_ids=input_ids).logits
    with torch.enable_grad():
        fresh = model(input_ids=input_ids).logits.detach()
    torch.testing.assert_close(cached, fresh, rtol=0, atol=0)
    return cached


def first_layer(model):
    return next(layer for _, layer in model.base_model.panacea_layers())


def test_no_grad_forward_reuses_the_diagonal_until_the_preference_changes():
    model = panacea_model()
    layer = first_layer(model)
    model.set_preference([0.3, 0.7])
    with torch.no_grad():
        first = layer.scaled_diagonal("default")
        assert layer.scaled_diagonal("default") is first
        model.set_preference([0.3, 0.7])  # a new value, even an equal one, is a new preference tensor
        assert layer.scaled_diagonal("default") is not first
    with torch.enable_grad():
        assert layer.scaled_diagonal("default").requires_grad  # autograd always sees the parameters


@pytest.mark.parametrize("per_sample", [False, True])
def test_cached_outputs_follow_preference_and_weight_changes(input_ids, per_sample):
    model = panacea_model()
    pref = torch.tensor([[0.2, 0.8], [0.9, 0.1], [0.5, 0.5]]) if per_sample else torch.tensor([0.2, 0.8])
    model.set_preference(pref)
    before = outputs_agree(model, input_ids)

    model.set_preference(pref.flip(-1))
    changed = outputs_agree(model, input_ids)
    assert not torch.allclose(before, changed)

    layer = first_layer(model)
    with torch.no_grad():  # an optimiser step updates sigma and s in place
        layer.panacea_E["default"].weight.mul_(1.5)
        layer.panacea_E["default"].pref_scale.add_(0.5)
    stepped = outputs_agree(model, input_ids)
    assert not torch.allclose(changed, stepped)

    state = copy.deepcopy(model.state_dict())
    model.load_state_dict({k: v * 0.5 if "panacea_E" in k else v for k, v in state.items()})
    loaded = outputs_agree(model, input_ids)
    assert not torch.allclose(stepped, loaded)

    model.load_state_dict(state, assign=True)  # new parameter objects
    torch.testing.assert_close(outputs_agree(model, input_ids), stepped, rtol=0, atol=0)


def test_dtype_change_and_scaling_change_rebuild_the_diagonal(input_ids):
    model = panacea_model()
    outputs_agree(model, input_ids)
    model.to(torch.float64)
    assert outputs_agree(model, input_ids).dtype == torch.float64
    layer = first_layer(model)
    with torch.no_grad():
        before = layer.scaled_diagonal("default")
        layer.scaling["default"] *= 2
        torch.testing.assert_close(layer.scaled_diagonal("default"), before * 2)


def aten_op_counts(fn) -> dict[str, int]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return {e.key: e.count for e in prof.key_averages() if e.key.startswith("aten::")}


def aten_ops(fn) -> int:
    return sum(aten_op_counts(fn).values())


@pytest.mark.parametrize("per_sample", [False, True])
def test_unmerged_forward_dispatches_no_more_ops_than_a_lora_of_the_same_rank(input_ids, per_sample):
    from peft import LoraConfig, get_peft_model

    from .models import tiny_llama

    model = panacea_model()  # r=8, m=2, the default targets
    model.set_preference(torch.full((input_ids.shape[0], 2), 0.5) if per_sample else torch.tensor([0.5, 0.5]))
    targets = sorted(model.peft_config["default"].target_modules)
    lora = get_peft_model(tiny_llama(), LoraConfig(r=10, target_modules=targets)).eval()
    with torch.inference_mode():
        model(input_ids=input_ids)  # the first forward after set_preference builds the diagonals
        assert aten_ops(lambda: model(input_ids=input_ids)) <= aten_ops(lambda: lora(input_ids=input_ids))


@pytest.mark.parametrize("per_sample", [False, True])
def test_the_first_forward_after_set_preference_pays_one_multiply_per_layer(input_ids, per_sample):
    """What a new preference costs the next forward (BENCHMARKS: first decoding step after set_preference): the
    shared factor, built once for all layers, and one multiply in each layer; no layer rebuilds its diagonal."""
    model = panacea_model()
    layers = sum(1 for _ in model.base_model.panacea_layers())
    pref = torch.tensor([[0.2, 0.8], [0.9, 0.1], [0.5, 0.5]]) if per_sample else torch.tensor([0.2, 0.8])
    with torch.no_grad():
        model(input_ids=input_ids)
        model.set_preference(pref)
        first = aten_op_counts(lambda: model(input_ids=input_ids))
        later = aten_op_counts(lambda: model(input_ids=input_ids))
    extra = {op: first.get(op, 0) - later.get(op, 0) for op in first.keys() | later.keys()}
    extra = {op: count for op, count in extra.items() if count}
    assert extra.pop("aten::mul") == layers + 1  # one per layer, and the factor's c * lambda
    assert set(extra) <= {
        "aten::full",
        "aten::cat",
        "aten::to",
        "aten::_to_copy",
        "aten::copy_",
        "aten::empty",
        "aten::empty_strided",
        "aten::fill_",
    }, extra
    assert sum(extra.values()) < layers  # the factor's few ops, once for all layers


def test_call_scoped_preferences_never_see_another_calls_diagonal(input_ids):
    """A block or a ``preference=`` call caches its own diagonal; the shared preference's comes back after it."""
    model = panacea_model().eval()
    model.set_preference([0.9, 0.1])
    shared = outputs_agree(model, input_ids)
    with model.preference([0.1, 0.9]):
        scoped = outputs_agree(model, input_ids)
    assert not torch.allclose(scoped, shared)
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=input_ids).logits, shared, rtol=0, atol=0)
        keyword = model(input_ids=input_ids, preference=[0.1, 0.9]).logits
        torch.testing.assert_close(keyword, scoped, rtol=0, atol=0)
        torch.testing.assert_close(model(input_ids=input_ids).logits, shared, rtol=0, atol=0)


def test_a_fused_optimizer_step_is_seen_although_it_bumps_no_version_counter(input_ids):
    """torch's fused AdamW (transformers' default optimizer) updates parameters without bumping their version
    counters; a training forward must still retire the cached diagonal, at any preference."""
    model = panacea_model()
    model.set_preference([0.3, 0.7])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1, fused=True)
    sigma = first_layer(model).panacea_E["default"].weight
    for _ in range(2):
        outputs_agree(model, input_ids)  # caches the diagonal at this preference
        version = sigma._version
        model(input_ids=input_ids).logits.square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
        assert sigma._version == version  # so the version counter alone would miss the step
        outputs_agree(model, input_ids)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_forward_merge_and_export_build_the_diagonal_alike(dtype):
    """One formula for the scaled diagonal: the exported LoRA factor and the merged update use, bit for bit, the
    diagonal the unmerged forward multiplies by (two formulas rounded differently in bf16)."""
    model = panacea_model(lora_alpha=3.0).to(dtype)
    layer = first_layer(model)
    for pref in ([0.3, 0.7], [0.1, 0.9], [0.77, 0.23]):
        model.set_preference(pref)
        with torch.no_grad():
            forward_diag = layer.scaled_diagonal("default")
            down, up = layer.lora_factors("default")
            explicit = layer.scaled_diagonal("default", torch.tensor(pref))
        assert torch.equal(explicit, forward_diag)
        assert torch.equal(down, layer.panacea_A["default"].weight * forward_diag.unsqueeze(-1))
        assert torch.equal(layer.get_delta_weight("default"), (up * forward_diag) @ layer.panacea_A["default"].weight)
