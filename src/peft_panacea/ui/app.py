"""The Gradio page: Steer (one slider per objective, streamed reply), Compare (one prompt at k preferences, one
batch, side by side) and Front (front.json with the current preference's nearest point marked).

Sliders are kept on the simplex by normalising on use: each weight is divided by the sum of all of them, and the
page shows the normalised preference that generation uses. Gradio is imported here only (the [demo] extra).
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterator
from typing import Any

from .._extras import raise_if_extra_missing
from .front_view import Front
from .steering import GenerationSettings, Reply, Steering, normalise

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline by default: no telemetry calls
try:
    import gradio as gr
except ImportError as error:
    raise_if_extra_missing("demo", "The Panacea UI (panacea ui)", error)
    raise

CSS = """
#compare-panel .panacea-replies { display: flex; gap: 0.6em; overflow-x: auto; }
#compare-panel .panacea-reply { flex: 1 1 0; min-width: 11em; border: 1px solid #ccc; border-radius: 6px;
  padding: 0.5em; }
#compare-panel .reply-preference { font-weight: bold; }
#compare-panel .reply-text { white-space: pre-wrap; font-family: inherit; margin: 0.4em 0; }
#compare-panel .reply-scores { color: #555; font-size: 0.9em; }
"""


def describe(names: list[str], preference: list[float]) -> str:
    """The normalised preference as one Markdown line."""
    parts = ", ".join(f"{name} **{w:.2f}**" for name, w in zip(names, preference, strict=True))
    return f"Preference used (sliders divided by their sum): {parts}"


def compare_html(names: list[str], replies: list[Reply]) -> str:
    """The replies as side-by-side cards (escaped text), each with its preference and reward scores."""
    cards = []
    for reply in replies:
        preference = ", ".join(f"{n} {w:.2f}" for n, w in zip(names, reply.preference, strict=True))
        scores = " · ".join(f"{name} {value:+.3f}" for name, value in reply.scores.items()) or "no reward functions"
        cards.append(
            f'<div class="panacea-reply"><div class="reply-preference">{html.escape(preference)}</div>'
            f'<pre class="reply-text">{html.escape(reply.text)}</pre>'
            f'<div class="reply-scores">{html.escape(scores)}</div></div>'
        )
    return f'<div class="panacea-replies">{"".join(cards)}</div>'


def build_app(steering: Steering, front: Front | None, title: str) -> gr.Blocks:
    """The page for ``steering``; ``front`` (or None) is plotted beside the sliders."""
    names = steering.names
    start = [float(w) for w in steering.model.get_preference().reshape(-1, len(names))[0]]
    with gr.Blocks(title="panacea ui", analytics_enabled=False) as app:
        gr.Markdown(f"## Panacea: {html.escape(title)}\nOne adapter, one set of weights; the preference steers it.")
        with gr.Row():
            with gr.Column(scale=1):
                sliders = [
                    gr.Slider(0.0, 1.0, value=w, step=0.01, label=name, elem_id=f"pref-{i}")
                    for i, (name, w) in enumerate(zip(names, start, strict=True))
                ]
                used = gr.Markdown(describe(names, normalise(start)), elem_id="preference")
                with gr.Accordion("Sampling (greedy unless ticked)", open=False):
                    max_new_tokens = gr.Slider(1, 512, value=64, step=1, label="max new tokens", elem_id="max-new")
                    do_sample = gr.Checkbox(False, label="sample", elem_id="do-sample")
                    temperature = gr.Slider(0.05, 2.0, value=0.7, step=0.05, label="temperature")
                    top_p = gr.Slider(0.05, 1.0, value=0.9, step=0.05, label="top-p")
                plot = gr.Plot(
                    front.figure(normalise(start)) if front else None,
                    label="Front",
                    visible=bool(front),
                    elem_id="front",
                )
                if front is None:
                    gr.Markdown("No front.json given (`--front`): run `panacea eval` to measure one.")
            with gr.Column(scale=2):
                prompt = gr.Textbox(label="Prompt", lines=3, elem_id="prompt")
                generate = gr.Button("Generate", variant="primary", elem_id="generate")
                reply = gr.Textbox(label="Reply", lines=8, interactive=False, elem_id="reply")
        with gr.Row():
            points = gr.Slider(2, 11, value=5, step=1, label="Compare: grid points per objective", elem_id="points")
            compare = gr.Button("Compare along the front", elem_id="compare")
        panel = gr.HTML(elem_id="compare-panel")
        settings_inputs = [max_new_tokens, do_sample, temperature, top_p]

        def preference_of(values: tuple[float, ...]) -> list[float]:
            try:
                return normalise(values)
            except ValueError as err:
                raise gr.Error(str(err)) from None

        def on_slider(*values: float) -> tuple[str, Any]:
            preference = preference_of(values)
            return describe(names, preference), (front.figure(preference) if front else None)

        def on_generate(text: str, *values: Any) -> Iterator[tuple[str, str]]:
            weights, settings = values[: len(names)], GenerationSettings(*values[len(names) :])
            line = describe(names, preference_of(weights))
            try:
                for partial in steering.stream(text, weights, settings):
                    yield partial, line
            except ValueError as err:
                raise gr.Error(str(err)) from None

        def on_compare(text: str, n: float, *values: Any) -> str:
            try:
                return compare_html(names, steering.compare(text, int(n), GenerationSettings(*values)))
            except ValueError as err:
                raise gr.Error(str(err)) from None

        for slider in sliders:
            slider.change(on_slider, sliders, [used, plot], show_progress="hidden")
        generate.click(on_generate, [prompt, *sliders, *settings_inputs], [reply, used])
        prompt.submit(on_generate, [prompt, *sliders, *settings_inputs], [reply, used])
        compare.click(on_compare, [prompt, points, *settings_inputs], panel)
    return app


def launch(steering: Steering, front: Front | None, title: str, port: int) -> None:
    """Serve the page on 127.0.0.1:``port`` until interrupted."""
    app = build_app(steering, front, title)
    app.queue(default_concurrency_limit=1)
    app.launch(server_name="127.0.0.1", server_port=port, css=CSS, show_error=True, ssr_mode=False)
