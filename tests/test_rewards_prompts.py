import pytest

from peft_panacea.demo.prompts import demo_prompts
from peft_panacea.demo.rewards import CONCISE_WORDS, conciseness, neutrality, positivity


def test_conciseness_falls_linearly_with_length():
    replies = ["", "one two", " ".join(["w"] * CONCISE_WORDS), " ".join(["w"] * (2 * CONCISE_WORDS))]
    assert conciseness(replies) == pytest.approx([1.0, 1 - 2 / CONCISE_WORDS, 0.0, 0.0])
    assert conciseness([[{"role": "assistant", "content": "one two"}]]) == pytest.approx([1 - 2 / CONCISE_WORDS])


def test_positivity_ranks_sentiment():
    pytest.importorskip("vaderSentiment", reason="positivity needs vaderSentiment")
    scores = positivity(["I love this wonderful, happy day!", "The train leaves at noon.", "This is awful and sad."])
    assert scores[0] > 0.5 and scores[1] == 0.0 and scores[2] < -0.5


def test_neutrality_conflicts_with_positivity_and_emoji_earn_nothing():
    pytest.importorskip("vaderSentiment", reason="neutrality needs vaderSentiment")
    plain, upbeat, emoji = "The sea is a large body of salt water.", "Oh, the sea is absolutely wonderful!", "✨✨✨✨"
    assert neutrality([plain])[0] == 1.0 and positivity([plain])[0] == 0.0
    assert positivity([upbeat])[0] > 0.5 and neutrality([upbeat])[0] < 0.6
    assert positivity([emoji]) == [0.0] and neutrality([emoji]) == [0.0]


def test_demo_prompts_are_unique_user_messages():
    prompts = demo_prompts()
    assert len(prompts) == len(set(prompts)) == 96
    assert {p.split()[0] for p in prompts[:40]} == {"Tell", "What"}
