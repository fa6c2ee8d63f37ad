"""What the page does with the model, without Gradio: stream one reply at a preference, and answer one prompt at
several preferences in one batch.

Every generation passes its preference as ``model.generate(..., preference=...)``, which applies it for that call
only: the adapter's own preference (``model.get_preference()``) is never changed by the page. A lock serialises
generations, because that per-call preference lives on the adapter for the duration of the call.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers.generation import BaseStreamer

from ..sampling import preference_grid

RewardFn = Callable[..., list[float]]


def normalise(weights: Sequence[float]) -> list[float]:
    """Slider values projected onto the simplex by dividing by their sum (the page shows the result)."""
    values = [float(w) for w in weights]
    if any(w < 0 for w in values) or sum(values) <= 0:
        raise ValueError(f"preference weights must be >= 0 with at least one above 0, got {values}")
    total = sum(values)
    return [w / total for w in values]


@dataclass
class GenerationSettings:
    """Greedy by default; ``do_sample`` switches on temperature and top-p."""

    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9

    def kwargs(self) -> dict[str, Any]:
        """``generate`` keywords: sampling settings only when sampling, so greedy runs get no sampling warnings."""
        out: dict[str, Any] = {"max_new_tokens": int(self.max_new_tokens), "do_sample": bool(self.do_sample)}
        if self.do_sample:
            out.update(temperature=float(self.temperature), top_p=float(self.top_p))
        return out


class ReplyStreamer(BaseStreamer):
    """The reply so far, decoded after every new token and handed to an iterator in another thread.

    Unlike transformers' ``TextIteratorStreamer``, which holds text back until a word ends (two or three tokens,
    seconds on a busy CPU), this shows each token at once; it decodes the whole reply each time, so the last text is
    exactly ``tokenizer.decode(new_tokens)``. Text ending in U+FFFD (a character split across tokens) is held back.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.tokens: list[int] = []
        self.prompt_seen = False
        self.texts: queue.Queue[str | None] = queue.Queue()

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() first hands over the prompt
            self.prompt_seen = True
            return
        self.tokens.extend(value.reshape(-1).tolist())
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        if not text.endswith("\ufffd"):
            self.texts.put(text)

    def end(self) -> None:
        self.texts.put(self.tokenizer.decode(self.tokens, skip_special_tokens=True))
        self.texts.put(None)

    def __iter__(self) -> Iterator[str]:
        while (text := self.texts.get()) is not None:
            yield text


@dataclass
class Reply:
    """One compare-panel entry: the preference, the reply, and its score under each reward (may be empty)."""

    preference: list[float]
    text: str
    scores: dict[str, float]


@dataclass
class Steering:
    """A Panacea ``PeftModel`` and its tokenizer, with the adapter's objective names and optional reward functions."""

    model: Any
    tokenizer: Any
    names: list[str]
    reward_fns: list[RewardFn] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def prompt_text(self, prompt: str) -> str:
        """The prompt as a user turn of the tokenizer's chat template (unchanged when it has none)."""
        if not getattr(self.tokenizer, "chat_template", None):
            return prompt
        messages = [{"role": "user", "content": prompt}]
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _inputs(self, prompt: str, rows: int) -> dict[str, torch.Tensor]:
        if not prompt.strip():
            raise ValueError("the prompt is empty: type a prompt first")
        text = self.prompt_text(prompt)
        batch = self.tokenizer([text] * rows, return_tensors="pt", add_special_tokens=False)
        return batch.to(self.model.device)

    def _preference(self, weights: Sequence[float]) -> torch.Tensor:
        if len(weights) != len(self.names):
            raise ValueError(f"expected {len(self.names)} weights ({', '.join(self.names)}), got {len(weights)}")
        return torch.tensor(normalise(weights), dtype=torch.float32)

    def stream(self, prompt: str, weights: Sequence[float], settings: GenerationSettings) -> Iterator[str]:
        """The reply at the normalised ``weights``, growing token by token (each item is the whole text so far)."""
        preference = self._preference(weights)
        batch = self._inputs(prompt, 1)
        streamer = ReplyStreamer(self.tokenizer)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with self._lock, torch.no_grad():
                    self.model.generate(
                        **batch,
                        preference=preference,
                        streamer=streamer,
                        pad_token_id=self.tokenizer.pad_token_id,
                        **settings.kwargs(),
                    )
            except BaseException as err:  # handed to the caller below; the streamer must still end
                errors.append(err)
                streamer.texts.put(None)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        last = None
        for text in streamer:
            if text != last:
                yield text
            last = text
        thread.join()
        if errors:
            raise errors[0]

    def compare(self, prompt: str, points: int, settings: GenerationSettings) -> list[Reply]:
        """``prompt`` answered at every point of ``preference_grid(m, points)``, all rows in one ``generate`` call
        through the per-row preference path, each reply scored by the reward functions."""
        preferences = preference_grid(len(self.names), points)
        batch = self._inputs(prompt, len(preferences))
        with self._lock, torch.no_grad():
            out = self.model.generate(
                **batch, preference=preferences, pad_token_id=self.tokenizer.pad_token_id, **settings.kwargs()
            )
        texts = self.tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        scores = self.score(prompt, texts)
        return [Reply(p.tolist(), t, s) for p, t, s in zip(preferences, texts, scores, strict=True)]

    def score(self, prompt: str, texts: list[str]) -> list[dict[str, float]]:
        """Each text's score under each reward function (TRL's signature), by the function's name."""
        scores: list[dict[str, float]] = [{} for _ in texts]
        for fn in self.reward_fns:
            values = fn(prompts=[prompt] * len(texts), completions=texts)
            for row, value in zip(scores, values, strict=True):
                row[getattr(fn, "__name__", "reward")] = float(value)
        return scores
