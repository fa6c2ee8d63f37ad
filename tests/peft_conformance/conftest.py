"""Keeps, of PEFT's upstream test classes, the tests parametrised with Panacea configs (the others test built-in
tuners and are deselected), and marks the ones that test a feature Panacea does not have as not applicable
(skipped with the reason)."""

from __future__ import annotations

import pytest

from peft_panacea import PanaceaConfig

from .cases import NOT_APPLICABLE
from .upstream import PACKAGE


def _is_upstream(item: pytest.Item) -> bool:
    function = getattr(item, "function", None)
    return function is not None and function.__module__.startswith(f"{PACKAGE}.")


def _runs_panacea(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("config_cls") is PanaceaConfig


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    for item in items:
        if not _is_upstream(item):
            kept.append(item)
        elif _runs_panacea(item):
            reason = NOT_APPLICABLE.get(item.originalname)
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=f"not applicable to Panacea: {reason}"))
            kept.append(item)
        else:
            dropped.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
