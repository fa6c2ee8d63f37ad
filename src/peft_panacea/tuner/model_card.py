"""The Panacea section that ``save_pretrained`` writes into the README.md of each saved adapter's folder."""

from __future__ import annotations

import os

from .config import PanaceaConfig

SECTION_HEADING = "## Panacea preference adapter"
SECTION_START = "<!-- peft-panacea: this section is rewritten on every save -->"
SECTION_END = "<!-- /peft-panacea -->"
NEW_CARD = "---\nlibrary_name: peft\n---\n"  # the metadata block PEFT expects at the top of a card


def panacea_card_section(config: PanaceaConfig) -> str:
    """Markdown naming the objectives and showing how to load the adapter and set a preference."""
    names = config.objective_names
    uniform = ", ".join(f"{1 / config.pref_dim:.3g}" for _ in names)
    objectives = "\n".join(f"{i + 1}. `{name}`" for i, name in enumerate(names))
    base = config.base_model_name_or_path or "<base model>"
    return f"""{SECTION_HEADING}

This is a [Panacea](https://arxiv.org/abs/2402.02030) adapter: one adapter for a whole Pareto front of
{config.pref_dim} objectives, steered at inference by a preference vector (non-negative weights that sum to 1),
in this order:

{objectives}

**Loading needs `pip install peft-panacea` and `import peft_panacea` before any PEFT call.** Without the import,
PEFT fails with `KeyError: 'PANACEA'` because it does not know this adapter type.

```python
import peft_panacea  # registers the PANACEA adapter type with PEFT
from peft import PeftModel
from transformers import AutoModelForCausalLM

base = AutoModelForCausalLM.from_pretrained("{base}")
model = PeftModel.from_pretrained(base, "<this adapter>")
model.set_preference([{uniform}])  # one weight per objective, in the order above
```

Rank: {config.rank} per adapted layer ({config.r} learned singular values plus {config.pref_dim} preference singular
values).
"""


def _without_section(text: str) -> str:
    """``text`` without the Panacea section an earlier save wrote (between the markers; a card written before the
    markers existed: from the heading to the next heading outside a code block)."""
    if SECTION_START in text and SECTION_END in text:
        before, rest = text.split(SECTION_START, 1)
        return before.rstrip("\n") + "\n" + rest.split(SECTION_END, 1)[1].lstrip("\n")
    if SECTION_HEADING not in text:
        return text
    before, rest = text.split(SECTION_HEADING, 1)
    lines, in_code = rest.splitlines(keepends=True), False
    for index, line in enumerate(lines):
        in_code ^= line.startswith("```")
        if index and not in_code and line.startswith("#"):
            return before + "".join(lines[index:])
    return before


def write_card_section(directory: str, config: PanaceaConfig) -> None:
    """Put the Panacea section for ``config`` into ``directory``'s README.md, replacing the one an earlier save
    wrote there: the card is where users learn the order of the preference weights, so it must describe the
    adapter now stored in that folder."""
    path = os.path.join(directory, "README.md")
    text = NEW_CARD
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    section = f"{SECTION_START}\n{panacea_card_section(config)}{SECTION_END}\n"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(_without_section(text).rstrip("\n") + "\n\n" + section)
