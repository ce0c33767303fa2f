"""Dataset distillation: DM, KIP, DC, DSA and MTT over one loop, with selection inits and importance-sampled
real batches (docs/design.md, sections 3-4).

>>> from dd_explore import data, distill
>>> distill.list_methods()
['dc', 'dm', 'dsa', 'kip', 'mtt']
>>> ds = data.load("digits")
>>> result = distill.run(ds, "dm", ipc=1, steps=20, width=32, out=None)        # doctest: +SKIP
>>> record = distill.load_run("runs/dm")                                        # doctest: +SKIP
"""

from dd_explore.distill.augment import DSA, augment
from dd_explore.distill.callbacks import (
    Callback,
    CheckpointEvery,
    Evaluation,
    LogProgress,
    OnStep,
    ProgressBar,
    RunControl,
    StopRun,
)
from dd_explore.distill.engine import Checkpoint, DistillResult, StepInfo, list_inits, run
from dd_explore.distill.importance import (
    HIST_EDGES,
    ClassImportance,
    ImportanceOptions,
    ImportanceSampler,
    UniformSampler,
)
from dd_explore.distill.methods import METHODS, DistillMethod, list_methods
from dd_explore.distill.rundir import Recorder, RunRecord, load_run

__all__ = [
    "Callback", "Checkpoint", "CheckpointEvery", "ClassImportance", "DSA", "DistillMethod", "DistillResult",
    "Evaluation", "HIST_EDGES", "ImportanceOptions", "ImportanceSampler", "LogProgress", "METHODS", "OnStep",
    "ProgressBar", "Recorder", "RunControl", "RunRecord", "StepInfo", "StopRun", "UniformSampler", "augment",
    "list_inits", "list_methods", "load_run", "run",
]
