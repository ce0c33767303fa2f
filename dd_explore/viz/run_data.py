"""Display facts of a distillation run record (``dd_explore.distill.RunRecord``): pixel statistics, class names
(``dd_explore.viz.pixel_stats`` / ``dd_explore.viz.class_names``)."""

from __future__ import annotations


def dataset_info(run) -> dict:
    """``run.config["run"]["dataset"]`` (the data set's ``describe()``), checked for what the views need."""
    try:
        info = run.config["run"]["dataset"]
    except (AttributeError, KeyError, TypeError) as exc:
        raise ValueError(f"run must be a RunRecord whose config holds run.dataset (from distill.load_run); {exc!r}") from exc
    for key in ("mean", "std", "classes"):
        if key not in info:
            raise ValueError(f"run config's dataset description lacks {key!r}; got keys {sorted(info)}")
    return info


def pixel_stats(run) -> tuple[list[float], list[float]]:
    """(per-channel mean, per-channel std) of the run's data set, to show its images in pixel space."""
    info = dataset_info(run)
    return list(info["mean"]), list(info["std"])


def class_names(run) -> list[str]:
    """The run's class names, in label order."""
    return [str(c) for c in dataset_info(run)["classes"]]
