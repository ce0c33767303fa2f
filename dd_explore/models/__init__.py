"""Networks used for evaluation, embeddings and distillation, created by name.

>>> from dd_explore import models
>>> net = models.create("convnet", channels=1, num_classes=10, image_size=(28, 28))
>>> models.list_models()
['alexnet', 'alexnet-bn', 'convnet', 'convnet-bn', 'convnet-nn', 'lenet', 'mlp', 'resnet18', 'resnet18-bn', 'vgg11', 'vgg11-bn']

The field's cross-architecture networks (reference: VICO-UoE/DatasetCondensation ``networks.py``):
``convnet`` (instance norm; ``convnet-bn`` batch norm, ``convnet-nn`` none), ``mlp``, ``lenet``,
``alexnet`` (``alexnet-bn``), ``vgg11`` (instance norm; ``vgg11-bn``) and ``resnet18`` (instance norm;
``resnet18-bn``), each for 28x28 and 32x32 inputs as in the reference and adapted to smaller ones
(8x8 digits). See :mod:`dd_explore.models.architectures`.
"""

from __future__ import annotations

from dd_explore._registry import Registry

MODELS: Registry = Registry("model")

from dd_explore.models import convnet as _convnet  # noqa: E402,F401  (registers "convnet")
from dd_explore.models import mlp as _mlp  # noqa: E402,F401  (registers "mlp")
from dd_explore.models import architectures as _arch  # noqa: E402,F401  (lenet, alexnet, vgg11, resnet18)
from dd_explore.models.architectures import VGG, AlexNet, LeNet, ResNet18  # noqa: E402
from dd_explore.models.convnet import ConvNet  # noqa: E402
from dd_explore.models.mlp import MLP  # noqa: E402


def create(name: str, **kwargs):
    """Build the model registered as ``name`` (``channels``, ``num_classes``, ``image_size``, ...)."""
    return MODELS.create(name, **kwargs)


def list_models() -> list[str]:
    return MODELS.names()


__all__ = ["AlexNet", "ConvNet", "LeNet", "MLP", "MODELS", "ResNet18", "VGG", "create", "list_models"]
