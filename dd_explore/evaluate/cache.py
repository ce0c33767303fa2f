"""A folder of finished evaluations, keyed by everything that decides their result.

Runs that start from the same set (e.g. the cells of ``dd-explore bench --plan defaults``, which share one
initial set per data set and IPC) evaluate it once: ``dd-explore distill --evaluate --eval-cache DIR`` (and
``dd-explore evaluate`` / ``dd-explore select --evaluate`` with ``--eval-cache DIR``) looks the evaluation up
before training any network and files it after (:func:`cached`). The key (SHA-256) covers the images and
labels evaluated, the data set's test split (its stored bytes and labels) and normalization, the evaluation's
settings (protocol, runs, epochs, model and its kwargs, seed), the device type, torch's thread count and
version, and the source of the code an evaluation runs (``dd_explore.evaluate``, ``dd_explore.train``,
``dd_explore.models``): a hit is what the same evaluation would compute here, and editing that code misses.
One JSON file per key (``<key>.json``: the key's inputs and the result), written atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch

logger = logging.getLogger(__name__)

CODE = ("dd_explore/evaluate", "dd_explore/train.py", "dd_explore/models")


@lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 of the source files an evaluation runs (sorted by path; this one excepted)."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for rel in CODE:
        path = root / rel
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            if f.name == "cache.py" and f.parent.name == "evaluate":
                continue  # this file decides no result
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _tensor(h, t: torch.Tensor) -> None:
    t = t.detach().cpu().contiguous()
    h.update(json.dumps([list(t.shape), str(t.dtype)]).encode())
    h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())


def eval_key(images: torch.Tensor, labels: torch.Tensor, dataset, settings: dict, device) -> tuple[str, dict]:
    """(key, its JSON-able inputs but the tensors) of evaluating (``images``, ``labels``: ids or soft
    labels) on ``dataset`` with ``settings`` (a JSON-able dict) on ``device``."""
    h = hashlib.sha256()
    _tensor(h, images)
    _tensor(h, labels)
    test = getattr(dataset, "test", dataset)
    _tensor(h, test.labels)
    inputs = {"settings": settings, "device": torch.device(device).type, "threads": torch.get_num_threads(),
              "torch": torch.__version__, "code": code_digest(), "test": test.digest(),
              "dataset": {"name": getattr(dataset, "name", None), "mean": list(getattr(dataset, "mean", ()) or ()),
                          "std": list(getattr(dataset, "std", ()) or ())},
              "images": list(images.shape)}
    h.update(json.dumps(inputs, sort_keys=True, default=str).encode())
    return h.hexdigest()[:32], inputs


class EvalCache:
    """``get(key)``: the stored result or None; ``put(key, inputs, result)``: store one (``folder`` is made
    on the first write). A file that is not a stored evaluation raises ValueError naming it."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"eval cache {self.folder} must be a folder; it is a file")

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict | None:
        path = self.path(key)
        if not path.exists():
            return None
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"eval cache file {path} is not readable JSON ({exc}); delete it to evaluate again") from exc
        result = entry.get("result") if isinstance(entry, dict) else None
        if not isinstance(result, dict) or entry.get("key") != key or not ("mean" in result or "rows" in result):
            raise ValueError(f"eval cache file {path} does not hold the evaluation of key {key} (a 'key' and a "
                             "'result' with a 'mean', or 'rows' of architectures); delete it to evaluate again")
        return result

    def put(self, key: str, inputs: dict, result: dict) -> Path:
        from dd_explore._io import write_json

        self.folder.mkdir(parents=True, exist_ok=True)
        return write_json(self.path(key), {"key": key, "inputs": inputs, "result": result})


def cached(folder: str | Path | None, images: torch.Tensor, labels: torch.Tensor, dataset, settings: dict, device,
           compute: Callable[[], dict]) -> dict:
    """``compute()`` (an evaluation's result as a JSON-able dict), through the cache in ``folder`` (None: no
    cache). Rank 0 looks the key up and files a new result; every rank follows rank 0's answer, so under
    torch.distributed all ranks train or none does. A hit is the stored dict with ``"cached": True``."""
    if folder is None:
        return compute()
    from dd_explore import distributed

    cache = EvalCache(folder)
    key, inputs = eval_key(images, labels, dataset, settings, device)
    main = distributed.context().main
    found = distributed.broadcast_object(cache.get(key) if main else None)
    if found is not None:
        logger.info("evaluation read from %s", cache.path(key))
        return dict(found, cached=True)
    result = compute()
    if main:
        cache.put(key, inputs, result)
    return result
