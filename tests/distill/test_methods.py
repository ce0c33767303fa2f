"""Checks every registered method gets: runs on CPU with both batch modes, learns, is deterministic."""

import numpy as np
import pytest
import torch

from dd_explore import distill
from dd_explore.distill.methods import METHODS


@pytest.mark.parametrize("batches", ["uniform", "importance"])
@pytest.mark.parametrize("method", distill.list_methods())
def test_every_method_runs_on_cpu(method, batches, digits, small, contract):
    contract.check_runs_on_cpu(method, batches, digits, small(method))


@pytest.mark.parametrize("method", distill.list_methods())
def test_same_seed_same_result_other_seed_differs(method, digits, small, contract):
    contract.check_deterministic(method, digits, small(method))


def test_registry_and_defaults(small):
    assert {"dc", "dm", "dsa", "kip", "mtt"} <= set(distill.list_methods())
    assert small.methods == set(distill.list_methods()), "every method needs small test settings in conftest.SMALL"
    for name in distill.list_methods():
        cls = METHODS.get(name)
        assert cls.name == name and cls.default_steps > 0 and cls.default_probe in ("network", "method")
    assert METHODS.get("dsa")().options.dsa is True and METHODS.get("dc")().options.dsa is False
    assert "noise" in distill.list_inits() and "sensitivity-kmeans" in distill.list_inits()


def test_network_probe_for_a_method_with_its_own(digits):
    res = distill.run(digits, "kip", ipc=1, batches="importance", probe="network", probe_width=8,
                      probe_warmup_epochs=2, steps=2, seed=0)
    assert res.config["run"]["importance"]["probe"] == "network" and res.probe_share > 0


def test_reweighting_and_selection_init(digits):
    res = distill.run(digits, "dm", ipc=2, init="sensitivity-kmeans", batches="importance", weighting="reweight",
                      gamma=0.5, refresh=1, probe_warmup_epochs=2, steps=2, seed=0, width=8, depth=2)
    assert res.selection is not None and res.selection.method == "sensitivity-kmeans"
    idx = torch.as_tensor(np.asarray(res.selection.indices))
    assert torch.equal(res.initial_images, digits.train.images[idx])


def test_kip_learned_labels(digits):
    res = distill.run(digits, "kip", ipc=1, learn_labels=True, lr_labels=0.1, steps=3, seed=0)
    assert res.targets is not None and res.targets.shape == (10, 10)
    start = torch.nn.functional.one_hot(res.labels, 10).float() - 0.1
    assert not torch.allclose(res.targets, start)
    p = res.eval_labels()
    torch.testing.assert_close(p.sum(1), torch.ones(10))
    assert (p >= 0).all()
