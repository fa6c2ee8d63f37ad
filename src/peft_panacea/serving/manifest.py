"""The manifest of a serving export (``panacea_serving.json``): objectives in order, adapters in order, and the
scale of each adapter at a preference."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..tuner.preference import PreferenceLike, is_per_sample, validate_preference
from ..tuner.serving_export import MANIFEST_FORMAT, MANIFEST_NAME, MANIFEST_VERSION


@dataclass(frozen=True)
class AdapterEntry:
    """One LoRA folder of the export: served at ``scale`` when it is a constant, else at the weight of
    ``objective``."""

    name: str
    path: Path
    rank: int
    scale: float | None = None
    objective: str | None = None
    gguf: Path | None = None


@dataclass(frozen=True)
class ServingManifest:
    form: str
    objectives: list[str]
    adapters: list[AdapterEntry]
    root: Path
    base_model: str | None = None

    @classmethod
    def load(cls, path: str | Path) -> ServingManifest:
        """Read the manifest from an export folder (or the JSON file itself); refuse anything else by name."""
        path = Path(path)
        file = path / MANIFEST_NAME if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(
                f"No serving manifest at '{file}'; write one with export_lora_basis, export_lora_vertices or "
                "export_shared_merged (panacea export --basis / --vertices / --shared-merged)."
            )
        data = json.loads(file.read_text(encoding="utf-8"))
        if data.get("format") != MANIFEST_FORMAT or data.get("version") != MANIFEST_VERSION:
            raise ValueError(
                f"'{file}' is not a {MANIFEST_FORMAT} manifest of version {MANIFEST_VERSION} "
                f"(format={data.get('format')!r}, version={data.get('version')!r}); export the adapter again."
            )
        objectives = list(data["objectives"])
        adapters = []
        for entry in data["adapters"]:
            if ("scale" in entry) == ("objective" in entry) or entry.get("objective", objectives[0]) not in objectives:
                raise ValueError(f"Adapter entry {entry} of '{file}' needs either a constant scale or an objective.")
            adapters.append(
                AdapterEntry(
                    name=entry["name"],
                    path=file.parent / entry["path"],
                    rank=int(entry["rank"]),
                    scale=entry.get("scale"),
                    objective=entry.get("objective"),
                    gguf=file.parent / entry["gguf"] if "gguf" in entry else None,
                )
            )
        base = data.get("base_model")
        return cls(data["form"], objectives, adapters, file.parent, base)

    def scales(self, preference: PreferenceLike, *, normalize: bool = False) -> list[float]:
        """The scale of every adapter, in manifest order, at ``preference`` (a vector or a dict by objective name,
        checked like ``set_preference``); one request carries one preference."""
        pref = validate_preference(preference, len(self.objectives), self.objectives, normalize)
        if is_per_sample(pref):
            raise ValueError(
                f"A server request takes one preference vector, got shape {tuple(pref.shape)}; send one request "
                "per preference."
            )
        weights = dict(zip(self.objectives, pref.tolist(), strict=True))
        return [float(a.scale) if a.objective is None else weights[a.objective] for a in self.adapters]
