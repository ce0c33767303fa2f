"""The field's evaluation protocols: train fresh networks on a small set, test on real data.

>>> from dd_explore import data, evaluate
>>> ds = data.load("digits")
>>> r = evaluate.evaluate(x, y, ds.test, protocol="dm", models=["convnet", "alexnet"])   # doctest: +SKIP
>>> s = evaluate.robust_scores(x, y, ds, protocol="dm")                                  # doctest: +SKIP

Presets (``plain``, ``dsa``/``dm``, ``dc``): :mod:`dd_explore.evaluate.presets`; ZCA whitening:
:mod:`dd_explore.evaluate.zca`; soft labels from a teacher: :mod:`dd_explore.evaluate.soft`; DD-Ranking's
label- and augmentation-robust scores: :mod:`dd_explore.evaluate.robust`. docs/evaluate.md has the details.
"""

from dd_explore.evaluate.presets import PRESETS
from dd_explore.evaluate.protocol import (CrossArchResult, EvalResult, Protocol, accuracy, evaluate, make_protocol,
                                          run_seed_pairs, train_network)
from dd_explore.evaluate.robust import RobustScores, random_subset, robust_scores
from dd_explore.evaluate.soft import Teacher, train_teacher
from dd_explore.evaluate.zca import ZCA, ZCADataset, whiten_dataset

__all__ = ["PRESETS", "CrossArchResult", "EvalResult", "Protocol", "RobustScores", "Teacher", "ZCA", "ZCADataset",
           "accuracy", "evaluate", "make_protocol", "random_subset", "robust_scores", "run_seed_pairs", "train_network",
           "train_teacher", "whiten_dataset"]
