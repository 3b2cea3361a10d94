"""The API-key fingerprint: changes with the key, never reveals it, and lands only where the key is read."""

from __future__ import annotations

import pytest

from vllm_fleet.secret_fingerprint import ANNOTATION_API_KEY_FINGERPRINT, UNDECRYPTED, secret_fingerprint
from vllm_fleet.stack_config import SecretValue

from .dataplane_support import pod_templates

KEYS = ["sk-one", "sk-two", "sk-one ", "a" * 64, "ключ-🔑"]


def test_every_key_has_its_own_fingerprint_and_none_contains_the_key():
    prints = [secret_fingerprint(SecretValue(key), "llm-prod") for key in KEYS]
    assert len(set(prints)) == len(KEYS)
    for key, printed in zip(KEYS, prints):
        assert key.strip() not in printed and len(printed) == 16 and int(printed, 16) >= 0


def test_the_fingerprint_is_stable_and_salted_per_namespace():
    key = SecretValue("sk-one")
    assert secret_fingerprint(key, "a") == secret_fingerprint(key, "a")
    assert secret_fingerprint(key, "a") != secret_fingerprint(key, "b")


def test_an_undecrypted_value_has_no_fingerprint():
    """Offline the program sees `[secret]`: a digest of the placeholder would look real and mean nothing."""
    assert secret_fingerprint(SecretValue(UNDECRYPTED), "a") == UNDECRYPTED


@pytest.fixture(scope="module")
def prod(stack_renders):
    return stack_renders["prod"]


def test_only_the_pods_that_read_the_key_carry_the_annotation(prod):
    annotated = {}
    for name, template in pod_templates(prod):
        reads_key = any(
            env.get("name") == "VLLM_API_KEY" for c in template["spec"]["containers"] for env in c.get("env", [])
        )
        annotated[name] = (ANNOTATION_API_KEY_FINGERPRINT in template["metadata"].get("annotations", {}), reads_key)
    assert annotated and all(has == reads for has, reads in annotated.values())
    assert any(has for has, _ in annotated.values()) and not all(has for has, _ in annotated.values())
