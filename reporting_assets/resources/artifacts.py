"""The artifact store: every rendered file under <root>/<report>/<period>/v<N>/, and the
Dagster resource that says where it is.

A version that was distributed is never overwritten: re-rendering a period after its
distribution opens the next version; re-rendering before distribution replaces the draft.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import dagster as dg

from reporting_assets.config import resolve

DISTRIBUTED_MARKER = "DISTRIBUTED"
_VERSION = re.compile(r"^v(\d+)$")


class ArtifactStore:
    """Versioned folders of report artifacts under one root."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def period_dir(self, report: str, period: str) -> Path:
        return self.root / report / period

    def versions(self, report: str, period: str) -> list[Path]:
        folder = self.period_dir(report, period)
        if not folder.exists():
            return []
        found = [(int(m[1]), p) for p in folder.iterdir() if (m := _VERSION.match(p.name))]
        return [p for _, p in sorted(found)]

    def is_distributed(self, version: Path) -> bool:
        return (version / DISTRIBUTED_MARKER).exists()

    def draft_dir(self, report: str, period: str) -> Path:
        """A fresh, empty folder to render into (renamed into place by `publish`)."""
        tmp = self.period_dir(report, period) / ".draft"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        return tmp

    def publish(self, report: str, period: str, draft: Path) -> Path:
        """Move a rendered draft into place as the current version; never touch a sent one."""
        versions = self.versions(report, period)
        if versions and not self.is_distributed(versions[-1]):
            target = versions[-1]
            shutil.rmtree(target)
        else:
            target = self.period_dir(report, period) / f"v{len(versions) + 1}"
        draft.rename(target)
        return target

    def mark_distributed(self, version: Path, note: str = "") -> None:
        """Record that this version reached readers (one line per channel that sent it)."""
        with open(version / DISTRIBUTED_MARKER, "a") as fh:
            fh.write((note or "distributed").rstrip("\n") + "\n")

    def latest(self, report: str, period: str) -> Path | None:
        versions = self.versions(report, period)
        return versions[-1] if versions else None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(files: dict[str, Path], counts: dict[str, dict] | None = None) -> list[dict]:
    """Name, size, content hash (and page / slide counts where known) of each artifact."""
    out = []
    for kind, path in files.items():
        entry = {"kind": kind, "file": path.name, "bytes": path.stat().st_size,
                 "sha256": sha256(path)}  # fmt: skip
        entry.update((counts or {}).get(kind, {}))
        out.append(entry)
    return out


def write_manifest(version: Path, entries: list[dict]) -> None:
    (version / "manifest.json").write_text(json.dumps(entries, indent=2) + "\n")


class ArtifactStoreResource(dg.ConfigurableResource):
    """Where rendered reports are kept (local folder under REPORTING_HOME by default)."""

    root: str = "var/artifacts"
    report_base_url: str = "https://reports.northwind.example"

    def store(self) -> ArtifactStore:
        return ArtifactStore(resolve(self.root))
