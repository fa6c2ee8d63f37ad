"""Request bodies for servers that take per-request adapter scales (llama.cpp's ``llama-server``, LoRAX).

llama-server applies every loaded adapter at scale 1 to a request without a ``lora`` field (or with an empty one),
and may reuse state cached under other scales, so every body built here carries the full list, zeros included.
"""

from __future__ import annotations

from typing import Any

from ..tuner.preference import PreferenceLike
from .manifest import ServingManifest


def llama_cpp_lora(manifest: ServingManifest, preference: PreferenceLike, *, normalize: bool = False) -> list[dict]:
    """llama-server's ``lora`` list: one ``{"id", "scale"}`` per adapter, ids in manifest order (start the server
    with one ``--lora`` per adapter in that order)."""
    return [{"id": i, "scale": s} for i, s in enumerate(manifest.scales(preference, normalize=normalize))]


def llama_server_command(
    manifest: ServingManifest, model_gguf: str, *, binary: str = "llama-server", port: int = 8080
) -> list[str]:
    """The llama-server command line for a serving export with GGUF adapters (``export_gguf``): the base model,
    one ``--lora`` per adapter in manifest order (the ids of the ``lora`` lists), no adapter applied at load, and
    the RAM prompt cache off (it restores state computed under other scales for a prompt seen before)."""
    missing = [a.name for a in manifest.adapters if a.gguf is None]
    if missing:
        raise ValueError(f"Adapters {missing} have no GGUF file; run export_gguf (panacea export --gguf) first.")
    command = [binary, "-m", str(model_gguf), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--lora-init-without-apply", "--cache-ram", "0"]
    for adapter in manifest.adapters:
        command += ["--lora", str(adapter.gguf)]
    return command


def llama_cpp_reset(manifest: ServingManifest) -> list[dict]:
    """Body for ``POST /lora-adapters`` right after the server starts: every adapter at scale 0, so nothing is
    applied unless a request says so."""
    return [{"id": i, "scale": 0.0} for i in range(len(manifest.adapters))]


def llama_cpp_completion(
    manifest: ServingManifest,
    preference: PreferenceLike,
    prompt: str | list[int],
    *,
    normalize: bool = False,
    **params: Any,
) -> dict[str, Any]:
    """Body for llama-server's ``POST /completion`` at ``preference``; ``params`` are other fields (n_predict,
    temperature, n_probs, ...). A ``lora`` entry in ``params`` is refused: the scales come from the preference."""
    if "lora" in params:
        raise ValueError("Pass the preference, not a `lora` list: the helper builds the full list from it.")
    return {"prompt": prompt, **params, "lora": llama_cpp_lora(manifest, preference, normalize=normalize)}


def lorax_generate(
    manifest: ServingManifest,
    preference: PreferenceLike,
    inputs: str,
    *,
    adapter_ids: list[str] | None = None,
    adapter_source: str = "local",
    normalize: bool = False,
    **parameters: Any,
) -> dict[str, Any]:
    """Body for LoRAX's ``POST /generate``: a per-request linear merge of the vertex LoRAs weighted by the
    preference. Exact only for the ``vertices`` export (LoRAX mixes the A and B factors separately, which is exact
    because every vertex has the same B, and refuses adapters of different ranks). ``adapter_ids`` names the
    vertices as the server knows them (default: their local folders, with ``adapter_source="local"``)."""
    if manifest.form != "vertices":
        raise ValueError(
            f"LoRAX merges adapters of one rank by mixing their factors; the '{manifest.form}' export does not fit "
            "that. Export with export_lora_vertices (panacea export --vertices)."
        )
    ids = adapter_ids if adapter_ids is not None else [str(a.path.resolve()) for a in manifest.adapters]
    if len(ids) != len(manifest.adapters):
        raise ValueError(f"adapter_ids has {len(ids)} ids for the {len(manifest.adapters)} vertices of the manifest.")
    for key in ("merged_adapters", "adapter_id"):
        if key in parameters:
            raise ValueError(f"Pass the preference, not `{key}`: the helper builds the merge from it.")
    merge = {"ids": ids, "weights": manifest.scales(preference, normalize=normalize), "merge_strategy": "linear"}
    return {"inputs": inputs, "parameters": {**parameters, "adapter_source": adapter_source, "merged_adapters": merge}}
