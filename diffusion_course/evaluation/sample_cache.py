"""A resumable sample cache: draw a long measurement in chunks that survive an interruption.

DDPM-1000 on 500 MNIST digits takes hours on a laptop CPU. :func:`draw_in_chunks` draws images
``first .. first + chunk - 1`` of a run as one chunk, saves it (with the seconds it took and the
load average) in a folder, and on the next call loads the chunks already there and draws only
the rest. Every family's generator draws image ``i`` from ``(seed, i)`` alone, so the images do
not depend on how the run was cut (up to float rounding between batch sizes). A chunk records a
key (weights fingerprint, family, options, seed); a folder made for another key is refused, so a
cache cannot mix two models or two samplers. Wall time per image is the sum of the chunks' own
times: each was measured where and when it was drawn, and its load average is kept beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["draw_in_chunks", "read_cache", "weights_fingerprint"]


def weights_fingerprint(model: nn.Module) -> str:
    """sha256 (first 16 hex digits) of a model's parameters and buffers, in state-dict order."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _load_chunk(path: Path, key: dict | None, first: int, count: int) -> dict:
    """One chunk, checked against its name and ``key`` (``None``: take the chunk's own key)."""
    try:
        chunk = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(chunk["meta"])
        images = chunk["images"]
    except Exception as e:  # noqa: BLE001 - any unreadable file is reported the same way
        raise ValueError(f"{path} is not a readable sample chunk ({e}); delete it to draw it again") from None
    if key is not None and meta.get("key") != key:
        raise ValueError(
            f"{path.parent} holds samples of another request (chunk key {meta.get('key')}, this run's {key}); "
            "pass another cache folder or delete this one"
        )
    if (meta.get("first"), meta.get("count")) != (first, count) or images.shape[0] != count:
        raise ValueError(
            f"{path} holds images {meta.get('first')}.. ({images.shape[0]} of them), expected {first}.. ({count}): "
            "the file does not hold what its name says; delete it to draw it again"
        )
    return {
        "images": images,
        "seconds": float(meta["seconds"]),
        "load_average": meta.get("load_average"),
        "key": meta.get("key"),
    }


def _save_chunk(path: Path, images: Tensor, meta: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"images": images.contiguous(), "meta": json.dumps(meta)}, tmp)
    os.replace(tmp, path)  # atomic: an interrupted save leaves no half-written chunk


def _check_layout(folder: Path, chunk: int) -> None:
    """Refuse a folder whose chunks were cut with another chunk size (they would be drawn again, not reused)."""
    for path in folder.glob("images_*_*.pt"):
        first, count = (int(v) for v in path.stem.split("_")[1:3])
        if first % chunk or count > chunk:
            raise ValueError(
                f"{folder} holds chunks cut with another chunk size ({path.name}: {count} images from {first}); "
                f"pass the --chunk it was made with, or another cache folder"
            )


def draw_in_chunks(
    draw: Callable[[int, int], Tensor],
    n: int,
    folder: str | Path,
    key: dict,
    chunk: int = 50,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Tensor, dict]:
    """Images ``0 .. n - 1`` of a run, drawn chunk by chunk through ``draw(first, count)`` and cached in ``folder``.

    ``key`` (JSON-serialisable) names the request; every chunk in ``folder`` must carry the same
    key. Returns ``(images, timing)`` with ``timing = {"seconds", "chunks", "chunks_reused",
    "load_averages"}``: ``seconds`` sums the chunks' own draw times. ``progress(done, total)`` is
    called after each chunk (images so far).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1; got {n!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1; got {chunk!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = json.loads(json.dumps(key))  # the form it takes after a round trip through the file
    _check_layout(folder, chunk)
    parts, seconds, reused, loads = [], 0.0, 0, []
    for first in range(0, n, chunk):
        count = min(chunk, n - first)
        path = folder / f"images_{first:07d}_{count:05d}.pt"
        if path.exists():
            got = _load_chunk(path, key, first, count)
            reused += 1
        else:
            t0 = time.perf_counter()
            images = draw(first, count)
            secs = time.perf_counter() - t0
            load = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
            meta = {"key": key, "first": first, "count": count, "seconds": secs, "load_average": load}
            _save_chunk(path, images, meta)
            got = {"images": images, "seconds": secs, "load_average": load}
        parts.append(got["images"])
        seconds += got["seconds"]
        loads.append(got["load_average"])
        if progress is not None:
            progress(first + count, n)
    timing = {"seconds": seconds, "chunks": len(parts), "chunks_reused": reused, "load_averages": loads}
    return torch.cat(parts), timing


def read_cache(folder: str | Path) -> tuple[Tensor, dict]:
    """All images of a finished cache folder, in order, and the key they were drawn for.

    Re-evaluating a long run (another reference set, another metric) needs its images, not a new
    draw. The chunks must cover images ``0 .. n - 1`` without a gap and carry one key.
    """
    folder = Path(folder)
    paths = sorted(folder.glob("images_*_*.pt"))
    if not paths:
        raise ValueError(f"{folder} holds no sample chunks (images_<first>_<count>.pt); draw them with measure --cache")
    parts, key, expected = [], None, 0
    for path in paths:
        first, count = (int(v) for v in path.stem.split("_")[1:3])
        if first != expected:
            raise ValueError(f"{folder} has a gap: images {expected}..{first - 1} are missing; finish the run first")
        chunk = _load_chunk(path, key, first, count)
        key = chunk["key"] if key is None else key
        parts.append(chunk["images"])
        expected = first + count
    return torch.cat(parts), key
