"""`panacea ui` without a browser: the steering logic against ``model.generate``, the front picture, and the
command's one-line errors, all raised before any model is loaded."""

import json
import textwrap

import pytest
import torch
from peft import LoraConfig, get_peft_model

from peft_panacea.cli import main
from peft_panacea.ui import GenerationSettings, Steering, normalise
from peft_panacea.ui.front_view import Front

from .models import panacea_model, perturb_adapter, run_without, tiny_llama, tiny_tokenizer

PROMPT = "w5 w6 w7"
NAMES = ["a", "b"]


def words(completions, **kwargs):
    """A reward: the number of words of each completion."""
    return [float(len(c.split())) for c in completions]


def chat_tokenizer():
    tokenizer = tiny_tokenizer()
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    return tokenizer


@pytest.fixture
def steering() -> Steering:
    model = panacea_model(preference_names=NAMES)
    perturb_adapter(model, seed=1, scale=1.0)  # these weights give 5 different greedy replies over the grid
    return Steering(model, chat_tokenizer(), NAMES, [words])


def reference(steering: Steering, preference: list[float], max_new_tokens: int) -> str:
    """The reply straight from ``model.generate`` at one preference (greedy), decoded without special tokens."""
    tokenizer = steering.tokenizer
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, tokenize=False
    )
    batch = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    out = steering.model.generate(
        **batch, preference=torch.tensor(preference), max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=0
    )
    return tokenizer.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)


def test_stream_normalises_the_sliders_and_matches_generate_leaving_the_preference(steering):
    before = steering.model.get_preference()
    parts = list(steering.stream(PROMPT, [0.2, 0.6], GenerationSettings(max_new_tokens=12)))
    assert len(parts) > 1 and all(b.startswith(a) for a, b in zip(parts, parts[1:], strict=False))  # streamed
    assert parts[-1] == reference(steering, [0.25, 0.75], 12)
    assert torch.equal(steering.model.get_preference(), before)


def test_compare_is_one_batch_of_per_row_preferences_with_scores(steering):
    calls = []
    generate = steering.model.generate

    def spy(*args, **kwargs):
        calls.append(kwargs["preference"].shape)
        return generate(*args, **kwargs)

    steering.model.generate = spy
    replies = steering.compare(PROMPT, 5, GenerationSettings(max_new_tokens=8))
    steering.model.generate = generate
    assert calls == [torch.Size([5, 2])]
    assert [r.preference for r in replies] == [[0.0, 1.0], [0.25, 0.75], [0.5, 0.5], [0.75, 0.25], [1.0, 0.0]]
    assert [r.text for r in replies] == [reference(steering, r.preference, 8) for r in replies]
    assert len({r.text for r in replies}) == 5
    assert [r.scores for r in replies] == [{"words": float(len(r.text.split()))} for r in replies]


def test_sampling_settings_reach_generate(steering):
    settings = GenerationSettings(max_new_tokens=5, do_sample=True, temperature=0.5, top_p=0.8)
    assert settings.kwargs() == {"max_new_tokens": 5, "do_sample": True, "temperature": 0.5, "top_p": 0.8}
    assert GenerationSettings().kwargs() == {"max_new_tokens": 64, "do_sample": False}
    torch.manual_seed(0)
    replies = steering.compare(PROMPT, 5, settings)
    assert len({r.text for r in replies}) > 1 and all(len(r.text.split()) <= 5 for r in replies)


def test_bad_weights_and_prompts_are_refused(steering):
    assert normalise([1, 3]) == [0.25, 0.75]
    for weights in ([0, 0], [-1, 2]):
        with pytest.raises(ValueError, match="at least one above 0"):
            normalise(weights)
    with pytest.raises(ValueError, match="expected 2 weights"):
        next(steering.stream(PROMPT, [1.0], GenerationSettings()))
    with pytest.raises(ValueError, match="prompt is empty"):
        steering.compare("  ", 3, GenerationSettings())


def write_front(path, preferences, names=("a", "b")):
    objectives = [[p[0], 1 - p[0] ** 2] + [0.0] * (len(names) - 2) for p in preferences]
    path.write_text(json.dumps({"preferences": preferences, "objectives": objectives, "objective_names": list(names)}))
    return path


def test_front_marks_the_nearest_measured_point(tmp_path):
    grid = [[0.0, 1.0], [0.25, 0.75], [0.5, 0.5], [0.75, 0.25], [1.0, 0.0]]
    front = Front.read(write_front(tmp_path / "front.json", grid))
    assert front.nearest([0.3, 0.7]) == 1 and front.nearest([0.9, 0.1]) == 4
    figure = front.figure([0.3, 0.7])
    assert [t.get_text() for t in figure.axes[0].texts] == ["(0.25, 0.75)"]
    (tmp_path / "bad.json").write_text('{"preferences": [[1, 0]]}')
    with pytest.raises(ValueError, match="not a front.json"):
        Front.read(tmp_path / "bad.json")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A Panacea adapter and a LoRA adapter saved to disk."""
    root = tmp_path_factory.mktemp("ui")
    panacea_model(preference_names=NAMES).save_pretrained(root / "panacea")
    get_peft_model(tiny_llama(), LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(root / "lora")
    return root


def ui_error(capsys, *args: str) -> str:
    # --model names no folder: an error about the adapter or the front proves it came before loading the model
    assert main(["ui", *args, "--model", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("panacea ui: error: ") and err.count("\n") == 1
    return err


def test_ui_refuses_a_wrong_adapter_or_front_before_loading(saved, capsys, tmp_path, monkeypatch):
    assert "no adapter at 'missing'" in ui_error(capsys, "--adapter", "missing")
    assert "holds a LORA adapter, not a Panacea one" in ui_error(capsys, "--adapter", str(saved / "lora"))
    assert "--front 'none.json' does not exist" in ui_error(
        capsys, "--adapter", str(saved / "panacea"), "--front", "none.json"
    )
    three = write_front(tmp_path / "f3.json", [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], names=("a", "b", "c"))
    assert "3-objective preferences, the adapter 2" in ui_error(
        capsys, "--adapter", str(saved / "panacea"), "--front", str(three)
    )
    assert "unknown reward(s) ['nope']" in ui_error(capsys, "--adapter", str(saved / "panacea"), "--rewards", "nope")
    monkeypatch.chdir(tmp_path)  # no arguments: the demo's adapter, outputs/demo/adapter
    assert "no adapter at 'outputs/demo/adapter'" in ui_error(capsys)


def test_ui_without_gradio_names_the_extra(saved):
    script = textwrap.dedent(
        f"""
        import sys
        import peft_panacea.cli, peft_panacea.ui  # the CLI and the steering logic import without gradio
        sys.exit(peft_panacea.cli.main(["ui", "--adapter", {str(saved / "panacea")!r}, "--model", "/nonexistent"]))
        """
    )
    result = run_without(("gradio",), script)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "pip install 'peft-panacea[demo]'" in result.stderr
