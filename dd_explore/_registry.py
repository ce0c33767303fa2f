"""A small name -> factory registry (one per family: models, selection methods, distillers)."""

from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories; ``create(name, **kw)`` builds one.

    Unknown names raise a ``ValueError`` that lists the valid ones.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            if isinstance(factory, type) and hasattr(factory, "name") and not factory.__dict__.get("name"):
                factory.name = name  # a class learns its registered name
            self._factories[name] = factory
            return factory

        return decorator

    def unregister(self, name: str) -> None:
        """Remove ``name`` (e.g. a method a test registered for itself)."""
        self.get(name)
        del self._factories[name]

    def get(self, name: str) -> Callable[..., T]:
        if not isinstance(name, str) or name not in self._factories:
            raise ValueError(
                f"{self.kind} must be one of {sorted(self._factories)}; got {name!r}"
            )
        return self._factories[name]

    def create(self, name: str, **kwargs: Any) -> T:
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories
