"""A method registered from a test file gets the common method checks (contract.py) for free; the same
toy method is the worked example of docs/design.md, "How to add a method"."""

from dataclasses import dataclass

import pytest

from dd_explore.distill.methods import METHODS
from dd_explore.distill.methods.base import ImageMethod, ImageOptions, StepOutput
from dd_explore.options import Number, default, option


@dataclass(frozen=True)
class PixelMeanOptions(ImageOptions):
    lr_img: float = default(ImageOptions, "lr_img", 0.5)
    pull: float = option(1.0, "weight of the class-mean term", Number())


class PixelMean(ImageMethod):
    """Moves each class's synthetic images so their pixel mean matches a real batch's (DM without a network)."""

    name = "toy-pixel-mean"
    Options = PixelMeanOptions
    default_steps = 100

    def step(self, ctx, batches):
        real = batches.draw_all(self.options.batch_real)
        loss = self.images.new_zeros(())
        for c in real.classes:
            mean_real = real.images[real.labels == c].mean(0)
            mean_syn = self.images[self.labels == c].mean(0)
            loss = loss + self.options.pull * ((mean_real - mean_syn) ** 2).sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return StepOutput(float(loss.detach()))


@pytest.fixture
def toy():
    METHODS.register(PixelMean.name)(PixelMean)
    yield PixelMean.name
    METHODS.unregister(PixelMean.name)


@pytest.mark.parametrize("batches", ["uniform", "importance"])
def test_toy_method_runs(toy, batches, digits, contract):
    contract.check_runs_on_cpu(toy, batches, digits, {})


def test_toy_method_is_deterministic(toy, digits, contract):
    contract.check_deterministic(toy, digits, {})


def test_toy_method_resumes(toy, digits, tmp_path, contract):
    contract.check_resume_equals_uninterrupted(toy, digits, tmp_path, {})


def test_toy_method_options_are_validated(toy, digits):
    from dd_explore import distill

    with pytest.raises(ValueError, match=r"pull must be a positive number; got -1"):
        distill.run(digits, toy, ipc=1, steps=1, pull=-1)
