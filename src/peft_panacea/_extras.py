"""Which optional extra provides which layer, and the ImportError that says which one to install.

``pip install peft-panacea`` gives the tuner only; the trainers and the evaluation need their extra. Their package
``__init__`` turns a bare ``No module named 'trl'`` into the install command.
"""

from __future__ import annotations

EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "train": ("trl", "datasets", "accelerate"),
    "eval": ("moocore", "scipy", "matplotlib", "tqdm"),
    "serve": ("gguf",),
    "demo": ("gradio", "gguf", "vaderSentiment"),
}


def raise_if_extra_missing(extra: str, what: str, error: ImportError) -> None:
    """Raise an ``ImportError`` naming ``pip install 'peft-panacea[<extra>]'`` when ``error`` is about one of the
    extra's modules; return otherwise, so that the caller re-raises any other import error unchanged."""
    missing = (error.name or "").split(".")[0]
    if missing in EXTRA_MODULES[extra]:
        raise ImportError(
            f"{what} needs {missing}, which the base install leaves out: pip install 'peft-panacea[{extra}]'",
            name=missing,
        ) from error
