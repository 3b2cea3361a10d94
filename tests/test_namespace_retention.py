"""The plan decides which claims hold weights and whether the stack's namespace must outlive the stack.

Deleting a namespace deletes every claim in it, so the namespace is retained
while it holds any claim whose weights must survive: one the stack created
with `retainOnDelete`, or one it only reads (never the stack's to delete).
Each storage kind and cache combination is planned for real (plugins and all).
"""

from __future__ import annotations

import pytest

from vllm_fleet.config import load_fleet
from vllm_fleet.plan import namespace_must_be_retained, plan_fleet, weights_claims

from .conftest import base_config

NEW = {"type": "new-pvc", "size": "100Gi"}
NEW_UNPROTECTED = {"type": "new-pvc", "size": "100Gi", "protect": False}
EXISTING = {"type": "existing-pvc", "claimName": "shared-weights", "accessMode": "ReadOnlyMany"}
HF_UNPROTECTED = {"type": "huggingface", "token": False, "size": "20Gi", "protect": False}
S3_CACHED = {"type": "s3", "url": "s3://bucket/prefix/"}  # read through a cache: no claim, so no size
CACHE = {"type": "alluxio", "tiers": [{"medium": "MEM", "quota": "8Gi"}]}


def _model(name: str, storage: dict, **extra) -> dict:
    return {"name": name, "model": "org/model", "parallelism": {"tensor": 1}, "storage": storage, **extra}


def _plans(registry, *models: dict):
    return plan_fleet(load_fleet(base_config(models=list(models)), registry))


@pytest.mark.parametrize(
    ("storage", "extra", "claims"),
    [
        (NEW, {}, ("m-weights",)),
        (EXISTING, {}, ("shared-weights",)),
        (HF_UNPROTECTED, {}, ("m-weights",)),
        # The cache reads the existing claim; Fluid's own claim (m-cache) is a copy, not the weights.
        (EXISTING, {"cache": CACHE}, ("shared-weights",)),
        # The cache reads the bucket itself: no claim holds the weights.
        (S3_CACHED, {"cache": CACHE}, ()),
    ],
    ids=["new-pvc", "existing-pvc", "huggingface", "existing-pvc+cache", "s3+cache"],
)
def test_weights_claims_name_every_claim_the_weights_live_on(registry, storage, extra, claims):
    (plan,) = _plans(registry, _model("m", storage, **extra))
    assert weights_claims(plan) == claims


@pytest.mark.parametrize(
    ("storages", "retained"),
    [
        ([NEW], True),  # protected and retained by default
        ([EXISTING], True),  # the stack only reads it: never its to delete
        ([NEW_UNPROTECTED], False),  # the claim itself goes on destroy: nothing to keep
        ([HF_UNPROTECTED], False),
        ([NEW_UNPROTECTED, EXISTING], True),  # one claim that must survive is enough
        ([HF_UNPROTECTED, NEW], True),
        ([S3_CACHED], False),  # weights stay in the bucket
    ],
)
def test_namespace_is_retained_while_it_holds_weights_that_must_survive(registry, storages, retained):
    extras = [{"cache": CACHE} if storage is S3_CACHED else {} for storage in storages]
    plans = _plans(registry, *(_model(f"m{i}", s, **e) for i, (s, e) in enumerate(zip(storages, extras))))
    assert namespace_must_be_retained(plans) is retained


def test_the_rendered_namespace_applies_the_plan(render_config):
    """fleet.py only applies the decision: the Namespace's retainOnDelete follows the plan for an existing claim."""
    for storage, retained in ((EXISTING, True), (NEW_UNPROTECTED, False)):
        render = render_config(base_config(models=[_model("m", storage)]))
        (namespace,) = [r for r in render.resources if r.type == "kubernetes:core/v1:Namespace"]
        assert namespace.retain_on_delete is retained
        assert render.outputs["models"]["m"]["weightsClaims"] == list(
            ("shared-weights",) if storage is EXISTING else ("m-weights",)
        )
