"""Shared fixtures: embedded data sets loaded once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def digits():
    from dd_explore import data

    return data.load("digits")


@pytest.fixture(scope="session")
def mnist5k():
    from dd_explore import data

    return data.load("mnist5k")
