"""The Panacea section that ``save_pretrained`` adds to an adapter's README.md."""

from __future__ import annotations

from .config import PanaceaConfig

SECTION_HEADING = "## Panacea preference adapter"


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
