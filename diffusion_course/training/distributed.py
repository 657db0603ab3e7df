"""Data-parallel training (DDP; Li et al. 2020, "PyTorch Distributed"): ranks, the process group, all-reduce.

Under ``torchrun`` (or any launcher that sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT``) every process runs the same training script. :class:`DataParallel` is what the
loop needs of them:

- the process group: gloo for the CPU, NCCL for CUDA (one GPU per process, ``cuda:LOCAL_RANK``);
- at the start, rank 0's weights, generator, batch order and random states go to every rank;
- each step every rank takes its rows of the *global* batch (:mod:`.shards`), backpropagates
  its share of the global mean loss, and the gradients are summed over the ranks (the all-reduce
  of DDP, one flat buffer per dtype), so every rank takes the same optimizer step;
- only rank 0 checks paths, writes checkpoints, runs callbacks and shows progress; what it
  decides (an error, a stop) is broadcast so that no rank waits forever.

With one process (no launcher) every method is a no-op and the loop is unchanged.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .shards import GlobalDraws, Shard, shard_batch

__all__ = ["DataParallel", "world", "is_main", "launched", "init_process_group", "local_device", "main_first"]


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process: ``(0, 1)`` without a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """True on rank 0 (and in a single process): the rank that prints and writes files."""
    return world()[0] == 0


def launched() -> bool:
    """True when a launcher (``torchrun``) started several processes (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_device(device: torch.device | str) -> torch.device:
    """The device of this process: ``cuda`` becomes ``cuda:LOCAL_RANK`` under a launcher (one GPU each)."""
    dev = torch.device(device)
    if dev.type == "cuda" and launched():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return dev


def init_process_group(device: torch.device | str) -> torch.device:
    """Join the launcher's process group (gloo on the CPU, NCCL on CUDA); returns this process's device.

    Does nothing without a launcher or when the group exists already. Raises ``ValueError`` for a
    device that cannot be shared (MPS) or a node with fewer GPUs than processes.
    """
    dev = local_device(device)
    if not launched() or dist.is_initialized():
        return dev
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"several processes train on 'cpu' (gloo) or 'cuda' (NCCL); got device {str(dev)!r}")
    if dev.type == "cuda":
        if dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"this process has LOCAL_RANK {dev.index} but the node has {torch.cuda.device_count()} GPU(s); "
                "start at most one process per GPU (torchrun --nproc_per_node)"
            )
        torch.cuda.set_device(dev)
        dist.init_process_group("nccl", device_id=dev)
    else:
        dist.init_process_group("gloo")
    return dev


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. a download into a shared folder), then the other ranks."""
    rank, size = world()
    if size > 1 and rank != 0:
        dist.barrier()
    yield
    if size > 1 and rank == 0:
        dist.barrier()


def _flat_groups(tensors: list[Tensor]) -> dict[tuple, list[int]]:
    groups: dict[tuple, list[int]] = {}
    for i, t in enumerate(tensors):
        groups.setdefault((t.dtype, t.device), []).append(i)
    return groups


class DataParallel:
    """What the training loop asks of the processes (see the module docstring); inactive in one process."""

    def __init__(self, device: torch.device) -> None:
        if launched() and not dist.is_initialized():
            init_process_group(device)
        self.rank, self.size = world()
        self.active = self.size > 1
        self.is_main = self.rank == 0
        if self.active and device.type == "cuda" and device != local_device("cuda"):
            raise ValueError(
                f"under torchrun each process trains on its own GPU, cuda:LOCAL_RANK ({local_device('cuda')}); "
                f"got {device} (use training.distributed.local_device)"
            )
        if self.active and device.type not in ("cpu", "cuda"):
            raise ValueError(f"several processes train on 'cpu' (gloo) or 'cuda' (NCCL); got device {str(device)!r}")

    # -- decisions of rank 0 -------------------------------------------------------------------
    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (pickled)."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def on_main(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on rank 0 only; every rank returns its result or raises its exception."""
        if not self.active:
            return fn()
        out: tuple[str, Any] | None = None
        if self.is_main:
            try:
                out = ("ok", fn())
            except Exception as err:  # re-raised on every rank below
                try:
                    pickle.dumps(err)
                    out = ("error", err)
                except Exception:
                    out = ("error", RuntimeError(f"{type(err).__name__}: {err}"))
        out = self.broadcast(out)
        if out[0] == "error":
            raise out[1]
        return out[1]

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    @contextmanager
    def main_file(self, path: Path | None) -> Iterator[Path | None]:
        """Rank 0's file ``path`` on every rank: itself on rank 0, a temporary copy of its bytes elsewhere."""
        if not self.active:
            yield path
            return
        shipped = self.broadcast(
            (str(path), path.read_bytes() if path is not None and path.exists() else None) if self.is_main else None
        )
        name, data = shipped
        if self.is_main or data is None:
            yield Path(name)
            return
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / Path(name).name
            copy.write_bytes(data)
            yield copy

    # -- the start: every rank from rank 0's state ------------------------------------------------
    def sync_start(self, models: dict[str, nn.Module], generator: torch.Generator, batches) -> None:
        """Give every rank rank 0's weights and buffers, loop generator, batch order and random states."""
        if not self.active:
            return
        tensors = [t.detach() for m in models.values() for t in [*m.parameters(), *m.buffers()]]
        self._broadcast_tensors(tensors)
        dev = tensors[0].device if tensors else torch.device("cpu")
        state = self.broadcast(
            {
                "generator": generator.get_state(),
                "batches": batches.state(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(dev).cpu() if dev.type == "cuda" else None,
            }
        )
        generator.set_state(state["generator"])
        batches.load(state["batches"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], dev)

    def _broadcast_tensors(self, tensors: list[Tensor]) -> None:
        for idx in _flat_groups(tensors).values():
            flat = torch.cat([tensors[i].reshape(-1) for i in idx])
            dist.broadcast(flat, src=0)
            for i, chunk in zip(idx, flat.split([tensors[i].numel() for i in idx])):
                tensors[i].copy_(chunk.view(tensors[i].shape))

    # -- a step -------------------------------------------------------------------------------------
    def shard(self, batch: tuple[Tensor, Tensor | None]) -> Shard:
        """This rank's rows of the global ``batch`` (the whole batch in one process)."""
        return shard_batch(batch, self.rank, self.size)

    def draws(self, shard: Shard, generator: torch.Generator) -> AbstractContextManager:
        """Inside a loss: draw the randomness of the global batch, keep this rank's rows (:class:`.GlobalDraws`)."""
        return GlobalDraws(shard, generator) if self.active else nullcontext()

    def backward(self, loss: Tensor, shard: Shard) -> None:
        """Backpropagate this rank's share ``rows / global rows`` of the global mean loss."""
        (loss * shard.weight if self.active else loss).backward()

    def share(self, loss: Tensor, shard: Shard) -> Tensor:
        """The value the ranks sum to the global mean loss (the loss itself in one process)."""
        return loss * shard.weight if self.active else loss

    @torch.no_grad()
    def reduce_gradients(self, params: list[Tensor]) -> None:
        """Sum the gradients over the ranks (DDP's all-reduce); a gradient missing on some rank counts as 0."""
        if not self.active:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        for idx in _flat_groups(grads).values():
            has = [float(params[i].grad is not None) for i in idx]
            flat = torch.cat([grads[i].reshape(-1) for i in idx] + [grads[idx[0]].new_tensor(has)])
            dist.all_reduce(flat)
            *chunks, counts = flat.split([grads[i].numel() for i in idx] + [len(idx)])
            missing = [params[i].grad is None for i in idx]
            counts = counts.tolist() if any(missing) else [1.0] * len(idx)  # a host sync only when needed
            for i, chunk, count in zip(idx, chunks, counts):
                p = params[i]
                if p.grad is not None:
                    p.grad.copy_(chunk.view(p.shape))
                elif count > 0:  # no gradient here, but some rank has one
                    p.grad = chunk.view(p.shape).clone()

    def sum_losses(self, values: Tensor, columns: slice) -> Tensor:
        """``values`` with ``values[:, columns]`` summed over the ranks (the global mean losses)."""
        if not self.active:
            return values
        part = values[:, columns].contiguous()
        dist.all_reduce(part)
        values = values.clone()
        values[:, columns] = part
        return values
