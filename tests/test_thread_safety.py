"""A per-call preference (``preference=`` on forward/generate, ``with model.preference(...)``) is scoped to its own
thread: concurrent calls at different preferences each get their single-thread result, and never change the
preference other threads see."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from peft_panacea import PanaceaLayer

from .models import panacea_model

PREFERENCES = [[round(w, 3), round(1 - w, 3)] for w in torch.linspace(0, 1, 12).tolist()]


def test_a_thread_pool_of_forward_calls_at_different_preferences(input_ids):
    model = panacea_model("llama")
    model.set_preference([0.5, 0.5])
    expected = {str(p): model(input_ids=input_ids, preference=p).logits for p in PREFERENCES}
    shared = model(input_ids=input_ids).logits
    calls = [*PREFERENCES, None, None, None] * 3  # None: no preference= kwarg, the model's own preference

    def forward(pref):
        kwargs = {} if pref is None else {"preference": pref}
        return pref, model(input_ids=input_ids, **kwargs).logits

    with ThreadPoolExecutor(max_workers=6) as pool:
        for pref, logits in pool.map(forward, calls):
            torch.testing.assert_close(logits, shared if pref is None else expected[str(pref)])
    assert model.get_preference().tolist() == [0.5, 0.5]


def test_a_thread_pool_of_generate_calls_at_different_preferences(input_ids):
    model = panacea_model("llama", seed=3)
    model.generation_config.pad_token_id = 0
    model.generation_config.eos_token_id = None
    kwargs = {"max_new_tokens": 4, "do_sample": False}
    per_sample = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.3, 0.7]])
    calls = [[1.0, 0.0], [0.0, 1.0], [0.3, 0.7], per_sample] * 3
    expected = [model.generate(input_ids=input_ids, preference=p, **kwargs) for p in calls[:4]]

    def generate(pref):
        return model.generate(input_ids=input_ids, preference=pref, num_beams=1, **kwargs)

    with ThreadPoolExecutor(max_workers=4) as pool:
        for i, out in enumerate(pool.map(generate, calls)):
            assert torch.equal(out, expected[i % 4])
    assert model.get_preference().tolist() == [0.5, 0.5]


def _pause_first_layer_in(model, worker_name: str, inside: threading.Event, resume: threading.Event):
    """Hold the thread named ``worker_name`` at the first Panacea layer until ``resume`` is set."""
    layer = next(m for m in model.modules() if isinstance(m, PanaceaLayer))

    def pause(module, args):
        if threading.current_thread().name == worker_name:
            inside.set()
            assert resume.wait(30)

    return layer.register_forward_pre_hook(pause)


@pytest.mark.parametrize("scope", ["kwarg", "context manager"])
def test_a_call_scoped_preference_never_reaches_a_concurrent_call(input_ids, scope):
    model = panacea_model("llama")
    model.set_preference([0.5, 0.5])
    shared = model(input_ids=input_ids).logits
    own = model(input_ids=input_ids, preference=[1.0, 0.0]).logits
    inside, resume = threading.Event(), threading.Event()
    results = []

    def worker():
        if scope == "kwarg":
            results.append(model(input_ids=input_ids, preference=[1.0, 0.0]).logits)
        else:
            with model.preference([1.0, 0.0]):
                results.append(model(input_ids=input_ids).logits)

    handle = _pause_first_layer_in(model, "panacea-worker", inside, resume)
    thread = threading.Thread(target=worker, name="panacea-worker")
    thread.start()
    try:
        assert inside.wait(30)
        # the worker is inside its call, holding its own preference
        assert model.get_preference().tolist() == [0.5, 0.5]
        torch.testing.assert_close(model(input_ids=input_ids).logits, shared)
    finally:
        resume.set()
        thread.join(30)
        handle.remove()
    torch.testing.assert_close(results[0], own)
    assert model.get_preference().tolist() == [0.5, 0.5]


def test_shared_changes_inside_a_call_scoped_block_are_refused(input_ids):
    model = panacea_model("llama")
    model.set_preference([0.5, 0.5])
    with model.preference([1.0, 0.0]):
        with pytest.raises(RuntimeError, match="inside a `with model.preference"):
            model.set_preference([0.2, 0.8])
        with pytest.raises(RuntimeError, match="inside a `with model.preference"):
            model.merge_adapter()
        assert model.get_preference().tolist() == [1.0, 0.0]
    assert model.get_preference().tolist() == [0.5, 0.5]
    assert not any(getattr(m, "merged", False) for m in model.modules())
