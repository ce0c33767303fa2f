"""Networks used for evaluation, embeddings and distillation, created by name.

>>> from dd_explore import models
>>> net = models.create("convnet", channels=1, num_classes=10, image_size=(28, 28))
>>> models.list_models()
['convnet', 'mlp']
"""

from __future__ import annotations

from dd_explore._registry import Registry

MODELS: Registry = Registry("model")

from dd_explore.models import convnet as _convnet  # noqa: E402,F401  (registers "convnet")
from dd_explore.models import mlp as _mlp  # noqa: E402,F401  (registers "mlp")
from dd_explore.models.convnet import ConvNet  # noqa: E402
from dd_explore.models.mlp import MLP  # noqa: E402


def create(name: str, **kwargs):
    """Build the model registered as ``name`` (``channels``, ``num_classes``, ``image_size``, ...)."""
    return MODELS.create(name, **kwargs)


def list_models() -> list[str]:
    return MODELS.names()


__all__ = ["ConvNet", "MLP", "MODELS", "create", "list_models"]
