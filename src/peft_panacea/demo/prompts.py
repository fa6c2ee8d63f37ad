"""Prompts for the demo and examples, written for this project (no licence strings attached)."""

from __future__ import annotations

TOPICS = [
    "the ocean",
    "a rainy Monday",
    "learning to cook",
    "an old bicycle",
    "a city park",
    "the night sky",
    "a mountain hike",
    "a vegetable garden",
    "a long train journey",
    "a birthday party",
    "a snowy forest",
    "a school concert",
    "a small bakery",
    "a quiet beach",
    "public libraries",
    "autumn leaves",
    "a busy airport",
    "houseplants",
    "a first day at work",
    "a thunderstorm",
    "board games",
    "morning coffee",
    "a museum visit",
    "a camping trip",
    "street music",
    "a lost umbrella",
    "a village market",
    "a moving day",
    "winter mornings",
    "a football match",
    "a road trip",
    "a rescue dog",
]
TEMPLATES = [
    "Tell me about {topic}.",
    "What do you think of {topic}?",
    "Describe {topic} in a few sentences.",
]


def demo_prompts() -> list[str]:
    """One user message per (topic, template): 96 prompts, ordered so any prefix mixes topics and templates."""
    return [template.format(topic=topic) for template in TEMPLATES for topic in TOPICS]
