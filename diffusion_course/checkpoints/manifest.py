"""The manifest of shipped checkpoints: sha256, size and the command that made each file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..config import ASSETS_DIR
from .spec import CheckpointError, _jsonable

__all__ = ["MANIFEST_PATH", "sha256_file", "read_manifest", "shipped_files", "add_to_manifest", "verify"]

MANIFEST_PATH = ASSETS_DIR / "checkpoints" / "manifest.json"
PathLike = str | os.PathLike


def sha256_file(path: PathLike) -> str:
    """Hex sha256 digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(manifest_path: PathLike | None = None) -> dict:
    """The manifest ``{name: entry}`` (empty if the file does not exist)."""
    mpath = Path(manifest_path or MANIFEST_PATH)
    if not mpath.exists():
        return {}
    try:
        return json.loads(mpath.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"manifest {mpath} is not valid JSON: {err}") from err


def _file_of(entry: dict, manifest_path: PathLike | None) -> Path:
    return (Path(manifest_path or MANIFEST_PATH).parent / entry["file"]).resolve()


def shipped_files(manifest_path: PathLike | None = None) -> set[Path]:
    """Resolved paths of all files the manifest lists."""
    return {_file_of(e, manifest_path) for e in read_manifest(manifest_path).values() if "file" in e}


def add_to_manifest(
    name: str,
    path: PathLike,
    command: str,
    description: str,
    metrics: dict | None = None,
    *,
    manifest_path: PathLike | None = None,
    **extra,
) -> dict:
    """Record ``path`` (its sha256, size, the command that made it) under ``name``; returns the entry."""
    mpath = Path(manifest_path or MANIFEST_PATH)
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"cannot add {path} to the manifest: the file does not exist")
    rel = Path(os.path.relpath(path.resolve(), mpath.parent.resolve())).as_posix()
    entry = _jsonable(
        {
            "file": rel,
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
            "command": command,
            "description": description,
            "metrics": metrics or {},
            **extra,
        },
        "manifest entry",
    )
    manifest = read_manifest(mpath)
    manifest[name] = entry
    mpath.parent.mkdir(parents=True, exist_ok=True)
    tmp = mpath.with_name(f".{mpath.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, mpath)
    return entry


def _entry(name: str, manifest_path: PathLike | None) -> dict:
    manifest = read_manifest(manifest_path)
    if name not in manifest:
        raise CheckpointError(
            f"unknown pretrained checkpoint {name!r}; available: {sorted(manifest)} "
            f"(manifest {manifest_path or MANIFEST_PATH})"
        )
    return manifest[name]


def verify(name: str, *, manifest_path: PathLike | None = None) -> Path:
    """Check the manifest's sha256 (and size) of checkpoint ``name``; returns its path."""
    entry = _entry(name, manifest_path)
    path = _file_of(entry, manifest_path)
    how = (
        f"restore it with `git checkout -- {path}` (or `git lfs pull`), or retrain it with "
        f"`{entry.get('command', '(command not recorded)')}`"
    )
    if not path.exists():
        raise CheckpointError(f"checkpoint {name!r}: file {path} is missing; {how}")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise CheckpointError(
            f"checkpoint {name!r}: the sha256 of {path} differs from the manifest "
            f"(file {digest[:16]}..., manifest {entry['sha256'][:16]}...), so the file "
            f"was modified or is a Git LFS pointer; {how}"
        )
    return path
