"""Runs across processes with ``torch.distributed``: one process per device, under ``torchrun`` or SLURM.

Every rank runs the same program with the same seed, so every rank draws the same random networks,
batches and augmentation parameters; what is split is the *work* (classes, kernel rows, evaluation
networks, probe scoring), and what is shared is combined with collectives so that every rank ends a step
with the same state as a single process would (see docs/distill.md, "Scale out"). Without a launcher
(no ``WORLD_SIZE`` > 1 in the environment) nothing here is active and one process behaves as always.

>>> from dd_explore import distributed
>>> ctx = distributed.setup()      # reads RANK / WORLD_SIZE / LOCAL_RANK (torchrun) or SLURM_* (srun)
>>> ctx.world, ctx.rank
(1, 0)
"""

from __future__ import annotations

import atexit
import datetime
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)

TIMEOUT_ENV = "DD_EXPLORE_DIST_TIMEOUT"  # seconds a collective waits for a rank that is gone (default 120)


@dataclass(frozen=True)
class Context:
    """This process's place: ``rank`` of ``world`` (``local_rank`` on its node) and the ``backend``."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """The rank that writes files and shows progress."""
        return self.rank == 0


def _env_int(*names: str) -> int | None:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            try:
                return int(value)
            except ValueError as exc:
                raise ValueError(f"environment variable {name} must be an int; got {value!r}") from exc
    return None


def launch_env() -> tuple[int, int, int]:
    """(rank, world, local_rank) from torchrun's variables, else SLURM's (``srun``), else (0, 1, 0)."""
    world = _env_int("WORLD_SIZE")
    if world is not None:
        return _env_int("RANK") or 0, world, _env_int("LOCAL_RANK") or 0
    world = _env_int("SLURM_NTASKS")
    if world is not None and world > 1:
        return _env_int("SLURM_PROCID") or 0, world, _env_int("SLURM_LOCALID") or 0
    return 0, 1, 0


def _slurm_rendezvous() -> None:
    """Under ``srun`` without torchrun: MASTER_ADDR from the first node of the job, a port from the job id."""
    if "MASTER_ADDR" not in os.environ:
        nodes = os.environ.get("SLURM_JOB_NODELIST") or os.environ.get("SLURM_NODELIST") or "127.0.0.1"
        first = nodes.split(",")[0]
        if "[" in first:  # host[01-04] -> host01
            base, rest = first.split("[", 1)
            first = base + rest.split("-")[0].split(",")[0].rstrip("]")
        os.environ["MASTER_ADDR"] = first
    if "MASTER_PORT" not in os.environ:
        os.environ["MASTER_PORT"] = str(29500 + (_env_int("SLURM_JOB_ID") or 0) % 1000)
    for name, value in (("RANK", "SLURM_PROCID"), ("WORLD_SIZE", "SLURM_NTASKS"), ("LOCAL_RANK", "SLURM_LOCALID")):
        os.environ.setdefault(name, os.environ[value])


_CONTEXT = Context()


def setup(device: str | torch.device = "auto") -> Context:
    """Join the process group when launched with several processes (idempotent); returns the context.

    Backend: NCCL when ``device`` resolves to CUDA (each rank on ``cuda:LOCAL_RANK``), gloo otherwise.
    A collective that waits longer than ``DD_EXPLORE_DIST_TIMEOUT`` seconds (default 120) for a rank
    raises, so a rank that died ends the others.
    """
    global _CONTEXT
    rank, world, local_rank = launch_env()
    if world <= 1:
        return _CONTEXT
    if dist.is_available() and dist.is_initialized():
        return _CONTEXT
    if "SLURM_PROCID" in os.environ and "WORLD_SIZE" not in os.environ:
        _slurm_rendezvous()
    cuda = torch.cuda.is_available() and str(device) in ("auto", "cuda") or str(device).startswith("cuda")
    if cuda:
        torch.cuda.set_device(local_rank)
    backend = "nccl" if cuda else "gloo"
    timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "120")))
    dist.init_process_group(backend=backend, rank=rank, world_size=world, timeout=timeout)
    # a process that exits with the group alive can abort in the backend's threads ("terminate called
    # without an active exception"): leave the group before the interpreter shuts down
    atexit.register(teardown)
    _CONTEXT = Context(rank=rank, world=world, local_rank=local_rank, backend=backend)
    logger.info("rank %d of %d (%s)", rank, world, backend)
    return _CONTEXT


def context() -> Context:
    """The current context: under a launcher (WORLD_SIZE > 1) the group is joined on first use."""
    if not _CONTEXT.active and launch_env()[1] > 1:
        return setup()
    return _CONTEXT


def teardown() -> None:
    """Leave the process group (idempotent; also run at exit)."""
    global _CONTEXT
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _CONTEXT = Context()


def finish(clean: bool) -> None:
    """End a command's part in the group: after a clean run wait for every rank (so no rank leaves while
    another still talks to it), then leave; after a failure leave at once (the others time out)."""
    if clean and _CONTEXT.active:
        try:
            barrier()
        except Exception as exc:  # a rank died after its work: nothing left to agree on
            logger.warning("ranks did not meet at the end: %s", exc)
    teardown()


def rank_device(device: str | torch.device) -> str | torch.device:
    """``cuda:LOCAL_RANK`` for "auto"/"cuda" when this rank is one of several on a CUDA machine."""
    ctx = _CONTEXT
    if ctx.active and ctx.backend == "nccl" and str(device) in ("auto", "cuda"):
        return torch.device("cuda", ctx.local_rank)
    return device


# ---------------------------------------------------------------------------- splitting and combining
def owned(n: int, ctx: Context | None = None) -> list[int]:
    """The items 0..n-1 this rank works on: contiguous blocks, earlier ranks one more when n % world != 0."""
    ctx = ctx or _CONTEXT
    base, extra = divmod(n, ctx.world)
    start = ctx.rank * base + min(ctx.rank, extra)
    return list(range(start, start + base + (1 if ctx.rank < extra else 0)))


_COMM_SECONDS = [0.0]  # wall seconds this process spent in collectives (waiting for others included)


def comm_seconds() -> float:
    """Seconds spent in dd_explore's collectives so far (a step's share: the difference around it)."""
    return _COMM_SECONDS[0]


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    try:
        return fn(*args, **kwargs)
    finally:
        _COMM_SECONDS[0] += time.perf_counter() - t0


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks, in place (a no-op in one process)."""
    if _CONTEXT.active:
        _timed(dist.all_reduce, tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank (``[obj]`` in one process)."""
    if not _CONTEXT.active:
        return [obj]
    out: list[Any] = [None] * _CONTEXT.world
    _timed(dist.all_gather_object, out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if not _CONTEXT.active:
        return obj
    box = [obj]
    _timed(dist.broadcast_object_list, box, src=src)
    return box[0]


def barrier() -> None:
    if _CONTEXT.active:
        _timed(dist.barrier)


def merge_owned(parts: Sequence[dict]) -> dict:
    """Merge per-rank ``{item: value}`` dicts (disjoint keys) into one."""
    out: dict = {}
    for part in parts:
        out.update(part)
    return out
