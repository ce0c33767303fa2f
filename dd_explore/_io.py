"""Atomic file writes: the one place dd_explore writes a file that a crash must not leave torn.

Each writer goes through :func:`atomic_write`: the bytes go to a temporary file in the same folder
(``.<name>.<random>.tmp``), are flushed and ``fsync``-ed, the file gets the usual permissions
(``0666`` less the process umask, as ``open()`` would give; ``mkstemp`` alone makes ``0600`` files),
and ``os.replace`` renames it over ``path``. A reader (or a killed writer) therefore sees either the
old file or the new one, never a partial one; a failed write removes its temporary file.
:func:`is_temp_name` tells such leftovers apart (a process killed between write and rename).

The readers :func:`read_json` and :func:`read_npz` turn a damaged file into a :class:`ValueError` that
names the file and what is wrong with it (a missing file stays :class:`FileNotFoundError`).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable

__all__ = ["atomic_write", "write_bytes", "write_text", "write_lines", "write_json", "write_torch", "write_npz",
           "write_npz_compressed", "is_temp_name", "file_mode", "read_json", "read_npz", "where", "damage"]

TEMP_SUFFIX = ".tmp"


def file_mode() -> int:
    """The permissions a plain ``open(path, "w")`` would give a new file (``0o666`` less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_MODE = file_mode()


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file of :func:`atomic_write` (``.<name>.<random>.tmp``)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def atomic_write(path: str | Path, write_fn: Callable[[IO[bytes]], Any]) -> Path:
    """Write ``path`` atomically: ``write_fn(fh)`` writes bytes to a temporary file in the same folder,
    which is flushed, fsync-ed, given the usual permissions and renamed over ``path``. Returns ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write_fn(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def write_text(path: str | Path, text: str) -> Path:
    """``text`` as UTF-8 (no newline translation)."""
    return write_bytes(path, text.encode("utf-8"))


def write_lines(path: str | Path, lines: Iterable[str]) -> Path:
    """One line per item, each ending in ``\\n``."""
    return write_text(path, "".join(line + "\n" for line in lines))


def write_json(path: str | Path, obj: Any) -> Path:
    """``obj`` as indented JSON (NaN and infinities refused: they are not JSON)."""
    return write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def write_torch(path: str | Path, obj: Any) -> Path:
    """``torch.save(obj)``; read back with ``torch.load(path, weights_only=True)`` for tensors and plain containers."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return write_bytes(path, buf.getvalue())


def write_npz(path: str | Path, **arrays) -> Path:
    """``np.savez(**arrays)`` (uncompressed)."""
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return write_bytes(path, buf.getvalue())


def write_npz_compressed(path: str | Path, **arrays) -> Path:
    """``np.savez_compressed(**arrays)``."""
    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return write_bytes(path, buf.getvalue())


# ---------------------------------------------------------------------------- reading, with clear errors
def where(path: str | Path) -> str:
    """``"<name> in <folder>"``, how error messages name a file."""
    path = Path(path)
    return f"{path.name} in {path.parent}"


def damage(exc: BaseException) -> str:
    """``"<ExceptionType>: <message>"``, what a reader's exception says about a damaged file."""
    return f"{type(exc).__name__}: {exc}".strip()


def read_json(path: str | Path) -> Any:
    """The JSON in ``path``; :class:`ValueError` naming the file when it is not readable JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{where(path)} is truncated or corrupt (not readable JSON: {damage(exc)})") from exc


def read_npz(path: str | Path, required: Iterable[str] = ()) -> dict:
    """Every array of the ``.npz`` file ``path`` (no pickles); :class:`ValueError` naming the file and what is
    wrong when it cannot be read or lacks one of the ``required`` arrays."""
    import numpy as np

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile, zlib, OSError, ValueError, EOFError...: the file is damaged
        raise ValueError(f"{where(path)} is truncated or corrupt (numpy.load: {damage(exc)})") from exc
    missing = [k for k in required if k not in arrays]
    if missing:
        raise ValueError(f"{where(path)} is incomplete (missing arrays: {', '.join(missing)})")
    return arrays
