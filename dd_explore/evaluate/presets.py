"""The evaluation protocols of the field as presets: ``plain``, ``dsa``/``dm`` and ``dc``.

Each preset says how fresh networks are trained on a small set before their test accuracy is measured.
The numbers are those of the reference implementations (docs/evaluate.md cites the files):

- ``plain`` (dd_explore's quick protocol, the default): ConvNet, SGD lr 0.01, momentum 0.9, weight decay
  5e-4, batch 256, 300 epochs, lr x0.1 from epoch 150, no augmentation.
- ``dsa`` and ``dm`` (the same evaluation; VICO-UoE/DatasetCondensation ``main.py`` with ``--method DSA``
  and ``main_DM.py``, ``utils.py: evaluate_synset``): ``epoch_eval_train = 1000``, ``lr_net = 0.01``,
  ``batch_train = 256``, SGD momentum 0.9 / weight decay 5e-4, DSA augmentation of every training batch
  (strategy ``color_crop_cutout_flip_scale_rotate``, one family per batch). ``evaluate_synset`` loops
  ``for ep in range(Epoch + 1)``, so it trains **1001** passes, and after pass ``Epoch // 2 + 1`` it
  multiplies the lr by 0.1 and builds a new optimizer (momentum buffers cleared): passes 0-501 at 0.01,
  502-1000 at 0.001. The preset runs exactly that (``epochs=1001``, ``lr_drop_epoch=502``,
  ``momentum_reset=True``).
- ``dc`` (``main.py`` with ``--method DC``; ``get_daparam``): DC's own augmentation for MNIST
  (``crop_scale_rotate``; ``crop_noise`` when the network is ConvNetBN) with ``epoch_eval_train = 1000``
  (1001 passes), no augmentation and 300 (301 passes) otherwise. "MNIST-like" is decided by the number of
  channels here (single-channel sets get the augmentation; the reference applies it to MNIST only).

Any field can be overridden (``evaluate(..., protocol="dm", epochs=300)``); the schedule's rule then
follows the new epochs (``reference``: the lr drops after pass ``(epochs - 1) // 2 + 1``; ``half``: from
epoch ``epochs // 2``) and the resolved :class:`~dd_explore.evaluate.protocol.Protocol` records the
numbers that ran.
"""

from __future__ import annotations

PRESETS = ("plain", "dsa", "dm", "dc")
SCHEDULES = ("half", "reference")

REFERENCE = {
    "plain": "dd_explore's quick protocol (DC/DSA/DM's evaluation without augmentation, 300 epochs)",
    "dsa": "VICO-UoE/DatasetCondensation main.py (--method DSA) + utils.py evaluate_synset, DiffAugment",
    "dm": "VICO-UoE/DatasetCondensation main_DM.py + utils.py evaluate_synset, DiffAugment",
    "dc": "VICO-UoE/DatasetCondensation main.py (--method DC) + utils.py evaluate_synset, augment, get_daparam",
}

_COMMON = {"model": "convnet", "runs": 5, "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 256}


def preset_fields(name: str, *, channels: int, model: str | None = None) -> dict:
    """The fields of preset ``name`` for images with ``channels`` channels (and evaluation network ``model``):
    ``model, runs, epochs, lr, momentum, weight_decay, batch_size, schedule, momentum_reset, augment``
    (``augment``: None, ``("dsa", {})`` or ``("dc", {"strategy": ...})``)."""
    if name not in PRESETS:
        raise ValueError(f"protocol must be one of {list(PRESETS)} or a Protocol; got {name!r}")
    fields = dict(_COMMON)
    if model is not None:
        fields["model"] = model
    if name == "plain":
        fields.update(epochs=300, schedule="half", momentum_reset=False, augment=None)
    elif name in ("dsa", "dm"):
        fields.update(epochs=1001, schedule="reference", momentum_reset=True, augment=("dsa", {}))
    else:  # dc
        strategy = None
        if channels == 1:
            strategy = "crop_scale_rotate"
        if fields["model"] == "convnet-bn":
            strategy = "crop_noise"
        fields.update(epochs=1001 if strategy else 301, schedule="reference", momentum_reset=True,
                      augment=("dc", {"strategy": strategy}) if strategy else None)
    return fields


def lr_drop_epoch(schedule: str, epochs: int) -> int | None:
    """The first epoch (0-based pass) trained at 0.1x the learning rate, or None when there is none."""
    if schedule == "half":
        return epochs // 2 if epochs > 1 else None
    if schedule == "reference":
        drop = (epochs - 1) // 2 + 2  # the reference drops after pass Epoch // 2 + 1, with Epoch = epochs - 1
        return drop if drop < epochs else None
    raise ValueError(f"schedule must be one of {list(SCHEDULES)}; got {schedule!r}")


def describe_schedule(schedule: str, epochs: int, drop: int | None, reset: bool) -> str:
    if drop is None:
        return f"constant lr for {epochs} epochs (no drop)"
    rule = "epochs // 2" if schedule == "half" else "(epochs - 1) // 2 + 2, as the reference"
    text = f"x0.1 from epoch {drop} of {epochs} ({rule})"
    return text + (", momentum buffers cleared there" if reset else "")


def build_augment(spec):
    """The augmentation object of ``spec`` (None, ``("dsa", params)`` or ``("dc", params)``)."""
    if spec is None:
        return None
    kind, params = spec
    if kind == "dsa":
        from dd_explore.distill.augment import DSA
        from dd_explore.evaluate.augmentations import DSAEval

        return DSAEval(DSA(**params))
    if kind == "dc":
        from dd_explore.evaluate.augmentations import DCAugment

        return DCAugment(**params)
    raise ValueError(f"augmentation must be 'dsa' or 'dc'; got {kind!r}")


__all__ = ["PRESETS", "REFERENCE", "SCHEDULES", "build_augment", "describe_schedule", "lr_drop_epoch", "preset_fields"]
