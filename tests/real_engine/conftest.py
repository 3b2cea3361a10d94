"""Fixtures of the real-engine suite (run with .venv-vllm's python; see README, "Tests with the real engine")."""

from __future__ import annotations

import shutil

import pytest

from tests.integration.test_ray_group import netns_unusable

from . import tiny_model


@pytest.fixture(scope="session")
def weights(tmp_path_factory):
    """The weights volume: the tiny model at `org/tiny`, as the rendered `vllm serve /models/org/tiny` expects."""
    reason = netns_unusable() or (None if shutil.which("nsenter") else "nsenter (util-linux) not installed")
    # CI and `make test` run as root with iproute2 and util-linux: a missing
    # prerequisite is a failure to fix, never a silent skip.
    assert reason is None, f"the real-engine tests can't run: {reason}"
    root = tmp_path_factory.mktemp("weights")
    tiny_model.build(root / "org" / "tiny")
    return root
