"""PEFT's own test suite, fetched from PyPI: the sdist of the installed peft version ships its ``tests/`` folder.

The folder is downloaded once (``pip download --no-binary :all:``), extracted as the package
``peft_upstream_tests`` under the cache (``$PEFT_PANACEA_CACHE``, default ``~/.cache/peft_panacea``) and imported from
there. When PyPI cannot be reached the conformance modules skip, naming the reason; they never pass without running.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types
from importlib.metadata import version
from pathlib import Path

import pytest

from peft_panacea._cache import cache_root as package_cache_root

PACKAGE = "peft_upstream_tests"
DOWNLOAD_TIMEOUT_S = 300


def cache_root() -> Path:
    return package_cache_root() / "peft-tests"


def _download_sdist(peft_version: str, into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "--quiet"]
    command += ["--retries", "1", "--timeout", "30", "--dest", str(into), f"peft=={peft_version}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise OSError(f"`pip download` took more than {DOWNLOAD_TIMEOUT_S} s") from None
    archives = sorted(into.glob(f"peft-{peft_version}.tar.gz"))
    if done.returncode != 0 or not archives:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise OSError(f"`pip download peft=={peft_version}` failed: {last[0]}")
    return archives[0]


def _extract_tests(archive: Path, peft_version: str, into: Path) -> None:
    prefix = f"peft-{peft_version}/tests/"
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix) and m.isfile() and ".." not in m.name]
        for member in members:
            member.name = member.name[len(prefix) :]
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.10.12
        tar.extractall(into, members=members, **safe)
    (into / "__init__.py").touch()


def tests_dir(peft_version: str) -> Path:
    """The extracted test package for ``peft_version``, downloading it on first use (atomic: no half-extracted
    folder is ever left behind for the next run)."""
    target = cache_root() / f"peft-{peft_version}"
    if (target / PACKAGE / "testing_common.py").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        archive = _download_sdist(peft_version, Path(scratch))
        staged = Path(scratch) / "staged"
        _extract_tests(archive, peft_version, staged / PACKAGE)
        if not (target / PACKAGE / "testing_common.py").is_file():
            shutil.rmtree(target, ignore_errors=True)
            staged.rename(target)
    return target


def _stub_diffusers() -> None:
    """``testing_common`` imports diffusers at module level only for its Stable Diffusion tests, which are not run
    here; a stub keeps diffusers out of the test dependencies."""
    try:
        importlib.import_module("diffusers")
    except ImportError:
        stub = types.ModuleType("diffusers")
        stub.StableDiffusionPipeline = type("StableDiffusionPipeline", (), {})
        sys.modules["diffusers"] = stub


def import_upstream(module: str) -> types.ModuleType:
    """Import ``peft_upstream_tests.<module>`` for the installed peft, or skip the calling test module with why."""
    peft_version = version("peft")
    try:
        root = tests_dir(peft_version)
    except OSError as error:
        pytest.skip(
            f"PEFT conformance run skipped: PEFT's tests for peft=={peft_version} could not be fetched from PyPI "
            f"({error}). Run once with PyPI reachable to cache them under {cache_root()}.",
            allow_module_level=True,
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    _stub_diffusers()
    return importlib.import_module(f"{PACKAGE}.{module}")


def adapt_for_panacea(module: types.ModuleType) -> None:
    """Teach two upstream helpers about Panacea, which they predate: ``set_init_weights_false`` spells the
    non-identity initialisation ``init_weights=False`` for tuners it does not know (Panacea's field is
    ``init_panacea_weights``), and ``_skip_if_conv1d_not_supported`` lists the built-in tuners that adapt GPT-2's
    ``Conv1D`` (Panacea does too)."""
    from peft_panacea import PanaceaConfig

    set_init_weights_false = module.set_init_weights_false

    def panacea_set_init_weights_false(config_cls: type, kwargs: dict) -> dict:
        if config_cls is PanaceaConfig:
            return {**kwargs, "init_panacea_weights": False}
        return set_init_weights_false(config_cls, kwargs)

    common = importlib.import_module(f"{PACKAGE}.testing_common")
    skip_if_conv1d_not_supported = common._skip_if_conv1d_not_supported

    def panacea_skip_if_conv1d_not_supported(model_id: str, config_cls: type, config_kwargs: dict) -> None:
        if config_cls is not PanaceaConfig:
            skip_if_conv1d_not_supported(model_id, config_cls, config_kwargs)

    module.set_init_weights_false = panacea_set_init_weights_false
    common._skip_if_conv1d_not_supported = panacea_skip_if_conv1d_not_supported
