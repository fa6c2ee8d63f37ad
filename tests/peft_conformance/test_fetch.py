"""Without PyPI the conformance run skips and says why; it never passes without running PEFT's tests."""

import os

import pytest

from . import upstream


def test_unreachable_pypi_skips_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("PEFT_PANACEA_CACHE", str(tmp_path))  # nothing cached
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")  # a closed port
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no extra indexes or find-links from pip's config
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    with pytest.raises(pytest.skip.Exception, match="PEFT conformance run skipped: .* could not be fetched from PyPI"):
        upstream.import_upstream("test_custom_models")
    assert not any((tmp_path / "peft-tests").glob("peft-*")), "a failed download must leave nothing behind"
