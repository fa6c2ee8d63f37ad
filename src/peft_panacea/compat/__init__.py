"""Every private hook of PEFT, TRL and transformers that peft-panacea relies on, one module per library.

Each module lists its hooks in ``HOOKS`` (what is used, with which parameters, and what for) and holds the small
helpers through which the rest of the package reaches those internals. ``tests/test_compat.py`` checks every
listed hook against the installed versions, so a version bump that renames or re-signs one fails one clear test
instead of training wrongly. Run the same check by hand with ``python -m peft_panacea.compat``.

The modules import their library lazily (hooks are named by dotted path), so the tuner can use
``peft_compat``/``transformers_compat`` without TRL being installed.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Hook:
    """One upstream name that is not public API but that this package uses, overrides or writes.

    Attributes:
        owner: Dotted path of the module or class that defines it, e.g. ``"trl.DPOTrainer"``.
        name: The attribute, method or function name.
        used_for: Why peft-panacea needs it (what breaks if it goes away).
        parameters: Leading parameter names of its signature that the code relies on (calls or overrides);
            ``None`` for attributes.
        instance_attribute: True for attributes set on instances (``self.<name> = ...`` in the owner's source).
    """

    owner: str
    name: str
    used_for: str
    parameters: tuple[str, ...] | None = None
    instance_attribute: bool = False

    def problem(self) -> str | None:
        """A sentence describing why the installed library no longer provides this hook, or None if it does."""
        try:
            owner = resolve(self.owner)
        except (ImportError, AttributeError):
            return f"{self.owner} no longer exists"
        label = f"{self.owner}.{self.name}"
        if self.instance_attribute:
            return None if _sets_attribute(owner, self.name) else f"{label} is no longer set by {self.owner}"
        fields = getattr(owner, "__dataclass_fields__", {})
        if not hasattr(owner, self.name) and self.name not in fields:
            return f"{label} no longer exists"
        if self.parameters is None:
            return None
        found = tuple(inspect.signature(getattr(owner, self.name)).parameters)
        if found[: len(self.parameters)] != self.parameters:
            return f"{label} now takes {found}, but peft-panacea relies on {self.parameters}"
        return None


def resolve(path: str) -> Any:
    """The object at dotted ``path``: the longest importable module prefix, then attribute look-ups."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(f"cannot import any prefix of {path}")


def _sets_attribute(owner: type, name: str) -> bool:
    """Whether some class in ``owner``'s MRO assigns ``self.<name>`` in its source."""
    for cls in getattr(owner, "__mro__", (owner,)):
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        if f"self.{name} =" in source or f"self.{name}: " in source:
            return True
    return False
