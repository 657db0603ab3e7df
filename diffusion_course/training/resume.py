"""Exact resume: everything a training run needs to continue as if it had not stopped.

``<stem>.resume.pt`` beside the checkpoint holds every model's weights and its EMA copy (float32),
the optimizers and schedulers, the loop's generator, the batch order, torch's global RNG (dropout)
and the losses so far. It is read with ``torch.load(weights_only=True)`` and checked against the
models it is loaded into.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoints import CheckpointError, atomic_save, model_spec, save_checkpoint

__all__ = ["RESUME_FORMAT", "resume_path", "save_state", "load_state"]

RESUME_FORMAT = 2


def resume_path(checkpoint_path: str | Path) -> Path:
    """The resume-state file that goes with a checkpoint: ``run/x.pt`` -> ``run/x.resume.pt``."""
    p = Path(checkpoint_path)
    return p.with_name(p.stem + ".resume.pt")


def save_state(state: dict, step: int) -> None:
    """Write the exported checkpoint (EMA weights) and the resume state (everything, float32)."""
    models, emas, ckpt = state["models"], state["emas"], state["ckpt"]
    cfg = {**state["config"], "steps": step}
    resume = {
        "format": RESUME_FORMAT,
        "step": step,
        "models": {k: m.state_dict() for k, m in models.items()},
        "emas": {k: m.state_dict() for k, m in emas.items()},
        "optimizers": {p.name: p.optimizer.state_dict() for p in state["phases"]},
        "schedulers": {p.name: p.scheduler.state_dict() for p in state["phases"] if p.scheduler is not None},
        "generator": state["generator"].get_state(),
        "batches": state["batches"].state(),
        "losses": {k: list(v) for k, v in state["losses"].items()},
        "torch_rng": torch.get_rng_state(),
        "specs": {k: model_spec(m) for k, m in models.items()},
        "config": cfg,
    }
    dev = next(next(iter(models.values())).parameters()).device
    if dev.type == "cuda":
        resume["cuda_rng"] = torch.cuda.get_rng_state(dev)
    atomic_save(resume, resume_path(ckpt))
    name = state["export"] or next(iter(models))
    save_checkpoint(
        ckpt,
        emas.get(name, models[name]),
        cfg,
        overwrite=True,
        allow_shipped=state["allow_shipped"],
        half=state["half"],
    )


def load_state(path: Path, models, emas, phases, generator, batches, losses, config: dict) -> int:
    if not path.exists():
        raise CheckpointError(f"cannot resume: no training state at {path} (it is written next to the checkpoint)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable resume file: {type(err).__name__}: {err}") from err
    if state.get("format") != RESUME_FORMAT:
        raise CheckpointError(
            f"{path} has resume format {state.get('format')!r}; this version reads "
            f"{RESUME_FORMAT} (restart the run, or resume it with the version that wrote it)"
        )
    specs = {k: model_spec(m) for k, m in models.items()}
    if state.get("specs") != specs:
        raise CheckpointError(f"cannot resume from {path}: it holds {state.get('specs')}, but the models are {specs}")
    for key in ("prediction",):
        if key in config and state["config"].get(key) != config[key]:
            raise CheckpointError(
                f"cannot resume from {path}: trained for {key} {state['config'].get(key)!r}, asked for {config[key]!r}"
            )
    for k, m in models.items():
        m.load_state_dict(state["models"][k])
    for k, m in emas.items():
        m.load_state_dict(state["emas"][k])
    for p in phases:
        p.optimizer.load_state_dict(state["optimizers"][p.name])
        if p.scheduler is not None:
            p.scheduler.load_state_dict(state["schedulers"][p.name])
    generator.set_state(state["generator"])
    batches.load(state["batches"])
    torch.set_rng_state(state["torch_rng"])
    dev = next(next(iter(models.values())).parameters()).device
    if dev.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"], dev)
    for k, v in state["losses"].items():
        losses.setdefault(k, []).extend(v)
    return int(state["step"])
