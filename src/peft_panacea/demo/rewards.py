"""Offline reward functions for the demo objectives, in TRL's reward-function signature.

Each takes ``completions`` (strings or chat messages) and returns one float per completion; the function names are
the objective names, so they line up with ``PanaceaConfig(preference_names=[...])``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

CONCISE_WORDS = 40  # replies of this many words or more score 0 on conciseness


def _text(completion: Any) -> str:
    if isinstance(completion, list):  # conversational: [{"role": "assistant", "content": ...}]
        return " ".join(str(message.get("content", "")) for message in completion)
    return str(completion)


def _words_only(text: str) -> str:
    """Letters, digits and plain punctuation: VADER's emoji lexicon would otherwise reward strings of emoji."""
    return re.sub(r"[^A-Za-z0-9\s.,;:!?'-]", " ", text)


@lru_cache(maxsize=1)
def _vader():
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as err:
        raise ImportError("The positivity reward needs vaderSentiment: pip install vaderSentiment") from err
    return SentimentIntensityAnalyzer()


def positivity(completions: list, **kwargs: Any) -> list[float]:
    """VADER compound sentiment of the reply's words, in [-1, 1]: how positive it sounds."""
    analyzer = _vader()
    return [analyzer.polarity_scores(_words_only(_text(c)))["compound"] for c in completions]


def neutrality(completions: list, **kwargs: Any) -> list[float]:
    """VADER's share of neutral words in the reply, in [0, 1] (0 for a reply with no words): a calm, factual tone,
    which conflicts with positivity."""
    analyzer = _vader()
    return [analyzer.polarity_scores(_words_only(_text(c)))["neu"] for c in completions]


def conciseness(completions: list, **kwargs: Any) -> list[float]:
    """1 for an empty reply, falling linearly to 0 at ``CONCISE_WORDS`` words or more."""
    return [1.0 - min(len(_text(c).split()), CONCISE_WORDS) / CONCISE_WORDS for c in completions]


REWARD_FUNCTIONS = {"positivity": positivity, "neutrality": neutrality, "conciseness": conciseness}
