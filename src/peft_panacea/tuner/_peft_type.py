"""Adds the ``PANACEA`` member to PEFT's closed ``PeftType`` enum.

PEFT's registry only accepts names that already exist in ``PeftType``, and transformers' adapter integration calls
``peft_type.value``, so a plain string is not enough. The member is added once, idempotently; this touches private
``enum`` internals, which is why peft is pinned to a minor version in ``pyproject.toml``.
"""

from __future__ import annotations

from peft.utils import PeftType

PANACEA_NAME = "PANACEA"


def ensure_peft_type(name: str = PANACEA_NAME) -> PeftType:
    """Return ``PeftType[name]``, creating the member first if PEFT does not define it."""
    if name in PeftType.__members__:
        return PeftType[name]
    member = str.__new__(PeftType, name)
    member._name_ = name
    member._value_ = name
    member.__objclass__ = PeftType
    if hasattr(PeftType, "_sort_order_"):
        member._sort_order_ = len(PeftType._member_names_)
    # EnumType.__setattr__ refuses to rebind members, so bypass it for the new attribute.
    type.__setattr__(PeftType, name, member)
    PeftType._member_names_.append(name)
    PeftType._member_map_[name] = member
    PeftType._value2member_map_[name] = member
    return member


PANACEA = ensure_peft_type()
