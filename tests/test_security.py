"""Who can reach a group, and the API key that never appears in plain text."""

from __future__ import annotations

import pytest

from vllm_fleet import render as render_module
from vllm_fleet.config import load_fleet
from vllm_fleet.errors import ConfigError
from vllm_fleet.stack_config import SecretValue

from .conftest import base_config, objects_of, with_model

PLAINTEXT_KEY = "sk-test-this-must-never-be-rendered"


def test_api_key_must_be_a_secret(registry):
    with pytest.raises(ConfigError) as raised:
        load_fleet(base_config(apiKey="plain-text-key"), registry)
    assert [str(i) for i in raised.value.issues] == [
        "vllm-fleet:apiKey: must be a secret: set it with `pulumi config set --secret <key> <value>` "
        "(the stack file then holds `secure: ...`), never as plain text"
    ]


def test_required_api_key_must_be_set(registry):
    with pytest.raises(ConfigError) as raised:
        load_fleet(base_config(apiAccess={"requireApiKey": True}), registry)
    assert str(raised.value.issues[0]).startswith("vllm-fleet:apiKey: apiAccess.requireApiKey is true but no key is set")


@pytest.fixture
def rendered_with_plaintext_key(stack_project, monkeypatch):
    """Feeds a decrypted key to the program, as `pulumi up` does after decrypting."""
    project = stack_project(test=base_config(apiAccess={"requireApiKey": True}))
    real_stack_config = render_module.stack_config

    def decrypted(project, stack):
        config, secret_keys = real_stack_config(project, stack)
        return {**config, "vllm-fleet:apiKey": PLAINTEXT_KEY}, [*secret_keys, "vllm-fleet:apiKey"]

    monkeypatch.setattr(render_module, "stack_config", decrypted)
    return render_module.render_stack(project, "test")


def test_api_key_never_appears_in_rendered_output(rendered_with_plaintext_key, tmp_path):
    render = rendered_with_plaintext_key
    out = render_module.write_render(render, tmp_path / "out")
    for path in out.rglob("*"):
        if path.is_file():
            assert PLAINTEXT_KEY not in path.read_text(), path
    secret = objects_of(render, "Secret")["vllm-api-key"]
    assert secret["stringData"] == {"api-key": "[secret]"}


def test_head_reads_api_key_from_the_secret(rendered_with_plaintext_key):
    head = objects_of(rendered_with_plaintext_key, "StatefulSet")["m-head"]
    env = {e["name"]: e for e in head["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["VLLM_API_KEY"] == {
        "name": "VLLM_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "vllm-api-key", "key": "api-key"}},
    }
    worker = objects_of(rendered_with_plaintext_key, "StatefulSet")["m-worker"]
    assert "VLLM_API_KEY" not in {e["name"] for e in worker["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_secret_value_repr_is_redacted():
    assert PLAINTEXT_KEY not in repr(SecretValue(PLAINTEXT_KEY))


def test_group_ports_only_for_members_api_port_for_allowed_callers(render_config):
    config = base_config(apiAccess={"allowFrom": [{"namespace": "gateway"}, {"namespace": "mon", "podLabels": {"app": "prom"}}]})
    policy = objects_of(render_config(config), "NetworkPolicy")["m-group"]
    group = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "m"}
    assert policy["spec"]["podSelector"]["matchLabels"] == group
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    members, callers = policy["spec"]["ingress"]
    assert members == {"from": [{"podSelector": {"matchLabels": group}}]}
    assert callers["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert callers["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mon"}}, "podSelector": {"matchLabels": {"app": "prom"}}},
    ]


def test_empty_allow_list_admits_only_the_group(render_config):
    policy = objects_of(render_config(base_config(apiAccess={"allowFrom": []})), "NetworkPolicy")["m-group"]
    assert len(policy["spec"]["ingress"]) == 1


def test_no_service_exposes_ray_or_its_dashboard(render_config):
    for service in objects_of(render_config(with_model()), "Service").values():
        assert [p["name"] for p in service["spec"].get("ports", [])] in ([], ["http"])


def test_disruption_budget_covers_the_whole_group(render_config):
    budget = objects_of(render_config(with_model()), "PodDisruptionBudget")["m-group"]
    assert budget["spec"]["maxUnavailable"] == 0
    assert budget["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "m"}
    assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_pods_run_least_privileged(render_config):
    for sts in objects_of(render_config(with_model()), "StatefulSet").values():
        pod = sts["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
        context = pod["containers"][0]["securityContext"]
        assert context["privileged"] is False and context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
