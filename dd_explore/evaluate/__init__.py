"""The field's evaluation protocol (train fresh networks on a small set, test on real data)."""

from dd_explore.evaluate.protocol import EvalResult, Protocol, accuracy, evaluate, train_network

__all__ = ["EvalResult", "Protocol", "accuracy", "evaluate", "train_network"]
