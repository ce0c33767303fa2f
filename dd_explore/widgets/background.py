"""Run a function (typically ``distill.run``) in a background thread so the notebook stays responsive.

>>> handle = run_in_background(lambda: 1 + 1)
>>> handle.join()
2

In a notebook, wait with ``result = await handle`` rather than ``handle.join()``: while a cell awaits,
the kernel still handles widget events (ipykernel >= 7 dispatches comm messages during an async cell),
so the dashboard's Stop button keeps working; ``join()`` blocks the kernel, and a click is only
processed after it returns.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

logger = logging.getLogger(__name__)


class BackgroundRun:
    """Handle of a function running in a daemon thread.

    ``join(timeout)`` waits and returns the result (re-raising the function's exception); ``await handle``
    does the same without blocking the kernel's event loop (widgets stay responsive);
    ``result`` the same without waiting (RuntimeError while running); ``done``, ``exception``;
    ``stop()`` calls ``on_stop`` (e.g. a dashboard's clean stop) when one was given.
    """

    def __init__(self, fn: Callable[[], Any], name: str = "dd-explore-run", on_stop: Callable[[], None] | None = None,
                 on_error: Callable[[BaseException], None] | None = None):
        if not callable(fn):
            raise ValueError(f"fn must be callable (e.g. lambda: distill.run(...)); got {fn!r}")
        self._fn = fn
        self._on_stop = on_stop
        self._on_error = on_error
        self._result: Any = None
        self._exception: BaseException | None = None
        self._thread = threading.Thread(target=self._target, name=name, daemon=True)

    def _target(self) -> None:
        try:
            self._result = self._fn()
        except BaseException as exc:  # noqa: BLE001 - kept and re-raised by join()/result
            self._exception = exc
            logger.error("background run failed: %r", exc)
            if self._on_error is not None:
                try:
                    self._on_error(exc)
                except Exception:  # noqa: BLE001 - reporting must not hide the original error
                    logger.exception("error handler of the background run failed")

    def start(self) -> "BackgroundRun":
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        return self._thread.ident is not None and not self._thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def exception(self) -> BaseException | None:
        return self._exception

    @property
    def result(self) -> Any:
        if not self.done:
            raise RuntimeError("the background run has not finished; call join() to wait for it")
        if self._exception is not None:
            raise self._exception
        return self._result

    def join(self, timeout: float | None = None) -> Any:
        """Wait (at most ``timeout`` seconds) and return the result; TimeoutError if still running."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the background run is still going after {timeout} s")
        return self.result

    async def wait(self, poll: float = 0.1) -> Any:
        """Wait without blocking the event loop (``await handle.wait()`` or ``await handle``); the result."""
        import asyncio

        while self._thread.is_alive() or self._thread.ident is None:
            await asyncio.sleep(poll)
        return self.result

    def __await__(self):
        return self.wait().__await__()

    def stop(self) -> None:
        """Ask the run to stop cleanly (needs ``on_stop``, which a dashboard provides)."""
        if self._on_stop is None:
            raise RuntimeError("this background run has no stop handler; start it with LiveDashboard.run_in_background")
        self._on_stop()

    def __repr__(self) -> str:
        state = "running" if self.is_alive() else ("failed" if self._exception is not None else
                                                   ("done" if self.done else "not started"))
        return f"<BackgroundRun {self._thread.name} {state}>"


def run_in_background(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> BackgroundRun:
    """Start ``fn(*args, **kwargs)`` in a daemon thread; returns a :class:`BackgroundRun`."""
    if not callable(fn):
        raise ValueError(f"fn must be callable (e.g. distill.run); got {fn!r}")
    return BackgroundRun(lambda: fn(*args, **kwargs)).start()
