"""DD-Ranking's robust scores on constructed cases, and soft-label (teacher) evaluation."""

from __future__ import annotations

import math

import pytest
import torch

from dd_explore.evaluate import evaluate, random_subset, robust_scores, train_teacher
from dd_explore.evaluate.robust import NEUTRAL, normalized_score
from dd_explore.evaluate.soft import kd_loss

FAST = dict(model="mlp", model_kwargs={"width": 16}, runs=2, epochs=8, batch_size=16, device="cpu")


def test_normalization():
    assert normalized_score(-1.0) == pytest.approx(0.0, abs=1e-12)
    assert normalized_score(1.0) == pytest.approx(1.0)
    assert NEUTRAL == normalized_score(0.0) == pytest.approx((1 - math.exp(-1)) / (math.e - math.exp(-1)))
    assert 0.2689 < NEUTRAL < 0.2690


def test_a_set_equal_to_the_random_subset_scores_the_neutral_value(digits):
    idx = random_subset(digits.train.labels, [3] * 10, seed=5)
    x, y = digits.train.images[idx], digits.train.labels[idx]
    s = robust_scores(x, y, digits, protocol="dm", random_seed=5, real_epochs=2, **FAST)
    assert s.per_run["ior"] == [0.0, 0.0] and s.ior == 0.0  # the same images, the same networks
    assert s.per_run["aug_diff"] == [0.0, 0.0] and s.per_run["naug_diff"] == [0.0, 0.0]
    assert s.ars == NEUTRAL and s.ars_std == 0.0
    assert s.lrs == pytest.approx(sum(normalized_score(-0.5 * h) for h in s.per_run["hlr"]) / 2)
    assert s.lrs < NEUTRAL  # the random subset is far from the whole split: HLR > 0 pulls the LRS down
    # every term is reported; the dm protocol's augmentation is the augmented arm, "no aug" drops it
    assert s.terms["syn_aug"] is s.terms["syn_any"] and s.terms["syn_naug"].protocol.augment is None
    assert s.terms["syn_any"].protocol.augment.startswith("dsa-eval") and s.terms["real_hard"].protocol.epochs == 2
    d = s.to_dict()
    assert set(d["terms"]) == {"real_hard", "syn_hard", "syn_any", "rdm_any", "syn_aug", "rdm_aug", "syn_naug", "rdm_naug"}
    assert list(d["random_indices"]) == idx.tolist() and "HLR" in str(s) and "ARS" in str(s)


def test_a_set_equal_to_the_whole_split_gets_the_maximal_recovery_term(digits):
    s = robust_scores(digits.train.images, digits.train.labels, digits, protocol="plain",
                      **{**FAST, "epochs": 2, "batch_size": 256})
    assert s.per_run["hlr"] == [0.0, 0.0] and s.hlr == 0.0  # Acc(real, hard) - Acc(syn, hard): nothing left to recover
    assert s.terms["real_hard"].accuracies == s.terms["syn_hard"].accuracies
    # the LRS then depends on IOR only: alpha = w IOR
    assert s.per_run["alpha"] == pytest.approx([0.5 * v for v in s.per_run["ior"]])
    # the plain protocol has no augmentation: the ARS's augmented arm takes the dm preset's DSA
    assert s.terms["syn_aug"].protocol.augment.startswith("dsa-eval") and s.terms["syn_naug"] is s.terms["syn_any"]


def test_scores_validate_and_reuse(digits):
    idx = random_subset(digits.train.labels, [1] * 10, seed=0)
    x, y = digits.train.images[idx], digits.train.labels[idx]
    with pytest.raises(ValueError, match=r"w must be a number in \[0, 1\]; got 1.5"):
        robust_scores(x, y, digits, w=1.5, **FAST)
    with pytest.raises(ValueError, match="the random subset needs 500 images of class 0"):
        random_subset(digits.train.labels, [500] * 10, 0)
    shared = {}
    a = robust_scores(x, y, digits, protocol="plain", shared=shared, **{**FAST, "epochs": 3})
    assert len(shared) == 3  # the whole split and the random subset with / without DSA, kept for the next set
    syn = evaluate(x, y, digits.test, protocol="plain", progress=False, **{**FAST, "epochs": 3})
    b = robust_scores(x, y, digits, protocol="plain", shared=shared, syn=syn, **{**FAST, "epochs": 3})
    assert b.to_dict()["per_run"] == a.to_dict()["per_run"] and b.terms["syn_hard"] is syn
    with pytest.raises(ValueError, match="syn must be this set's hard-label evaluation under the same protocol"):
        robust_scores(x, y, digits, protocol="dm", syn=syn, **{**FAST, "epochs": 3})


def test_teacher_soft_labels(digits, tmp_path):
    teacher = train_teacher(digits, model="mlp", model_kwargs={"width": 32}, epochs=10, batch_size=64, device="cpu",
                            cache=tmp_path / "t.pt")
    assert teacher.info["test_accuracy"] > 0.8 and (tmp_path / "t.pt").exists()
    again = train_teacher(digits, model="mlp", model_kwargs={"width": 32}, epochs=10, batch_size=64, device="cpu",
                          cache=tmp_path / "t.pt")
    assert again.info == teacher.info  # loaded from the cache
    idx = random_subset(digits.train.labels, [2] * 10, seed=1)
    x, y = digits.train.images[idx], digits.train.labels[idx]
    kw = {**FAST, "epochs": 20, "progress": False}
    r = evaluate(x, y, digits.test, teacher=teacher, temperature=2.0, **kw)
    assert r.protocol.labels == "teacher-kl" and r.protocol.temperature == 2.0 and r.protocol.teacher["epochs"] == 10
    shuffled = evaluate(x, y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))], digits.test,
                        teacher=teacher, temperature=2.0, **kw)
    assert shuffled.accuracies == r.accuracies  # the class ids are not used: the teacher labels every batch
    hard = evaluate(x, y, digits.test, **kw)
    assert r.mean > hard.mean  # 20 images, and the teacher's knowledge on top
    logits = torch.randn(5, 10)
    same = kd_loss(lambda inp: logits, 3.0)(logits, None, torch.zeros(5, 1, 8, 8))
    assert abs(float(same)) < 1e-6  # a student equal to its teacher: KL 0
    s = robust_scores(x, y, digits, protocol="plain", teacher=teacher, temperature=2.0, real_epochs=2, **{**FAST, "epochs": 10})
    assert s.labels == "teacher-kl" and s.terms["rdm_any"].protocol.labels == "teacher-kl"
    assert s.terms["syn_hard"].protocol.labels == "hard" and s.terms["real_hard"].protocol.labels == "hard"
