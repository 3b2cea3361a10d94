"""The monitoring add-on wired into the program: registered by entry point, chosen per model, one dashboard per stack."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from vllm_fleet.builtin.monitoring import MonitoringAddon
from vllm_fleet.plugins import Registry

from .conftest import PROJECT_DIR, objects_of
from .dataplane_support import config, model, one_issue, render
from .monitoring_support import validate_crs

MONITORING_KINDS = ("PodMonitor", "PrometheusRule", "NetworkPolicy")


def _names(rendered, kind: str) -> set[str]:
    return set(objects_of(rendered, kind))


def _dashboard_rows(rendered) -> list[str]:
    configmap = objects_of(rendered, "ConfigMap")["vllm-fleet-dashboard"]
    dashboard = json.loads(configmap["data"]["vllm-fleet.json"])
    return [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"]


def test_the_add_on_is_registered_by_its_entry_point():
    registry = Registry.discover()
    assert "monitoring" in registry.names("addon")
    entry = 'addon.monitoring" = "vllm_fleet.builtin.monitoring:MonitoringAddon"'
    assert entry in (PROJECT_DIR / "pyproject.toml").read_text()
    assert MonitoringAddon.kind == "addon" and MonitoringAddon.name == "monitoring"


def test_prod_scrapes_alerts_and_shows_every_model(stack_renders):
    rendered = stack_renders["prod"]
    models = [name for name, o in objects_of(rendered, "Service").items() if o["metadata"]["labels"].get("app.kubernetes.io/component") == "api"]
    # Every model of prod (all take the stack default add-ons), each with its API Service.
    assert sorted(models) == sorted(rendered.outputs["models"]) and len(models) >= 3
    assert _names(rendered, "PodMonitor") == {f"{m}-metrics" for m in models}
    assert _names(rendered, "PrometheusRule") == {f"{m}-alerts" for m in models}
    assert {f"{m}-metrics" for m in models} <= _names(rendered, "NetworkPolicy")
    assert sorted(row.split(":")[0] for row in _dashboard_rows(rendered)) == sorted(f"Model {m}" for m in models)
    for obj in [*objects_of(rendered, "PodMonitor").values(), *objects_of(rendered, "PrometheusRule").values()]:
        assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_dev_opts_out(stack_renders):
    rendered = stack_renders["dev"]
    assert not any(objects_of(rendered, kind) for kind in ("PodMonitor", "PrometheusRule", "ServiceMonitor"))
    assert "vllm-fleet-dashboard" not in _names(rendered, "ConfigMap")
    assert not [name for name in _names(rendered, "NetworkPolicy") if name.endswith("-metrics")]


def test_rendered_monitoring_objects_match_the_upstream_crds(stack_renders, tmp_path):
    objects = [o for stack in ("prod", "staging") for o in stack_renders[stack].objects()
               if o["apiVersion"].startswith("monitoring.coreos.com/")]
    for index, obj in enumerate(objects):
        (tmp_path / f"{index:02d}.yaml").write_text(yaml.safe_dump(obj))
    result = validate_crs(tmp_path)
    assert result.returncode == 0 and f"{len(objects)} checked, 0 failed" in result.stdout, result.stdout + result.stderr
    models = sum(len(stack_renders[stack].outputs["models"]) for stack in ("prod", "staging"))
    assert len(objects) == 2 * models >= 10, "a PodMonitor and a PrometheusRule per model of prod and staging"


def test_only_models_that_name_the_add_on_get_a_row(tmp_path):
    raw = config(model(addons=["monitoring"]), model(name="quiet", parallelism={"tensor": 2}, addons=[]))
    rendered = render(tmp_path, raw)
    assert _names(rendered, "PodMonitor") == {"llm-metrics"}
    assert _dashboard_rows(rendered) == ["Model llm: 16 GPUs, 2 pods"]
    configmap = objects_of(rendered, "ConfigMap")["vllm-fleet-dashboard"]
    assert configmap["metadata"]["labels"]["app.kubernetes.io/instance"] == "fleet", "a stack object, not one model's"


def test_models_that_disagree_on_the_dashboard_are_a_config_error_with_a_key_path():
    raw = config(
        model(addons=["monitoring"]),
        model(name="other", parallelism={"tensor": 2}, addons=[{"type": "monitoring", "dashboard": {"kind": "GrafanaDashboard"}}]),
    )
    message = one_issue(raw, "vllm-fleet:models[0].addons[0].dashboard")
    assert "'llm' and 'other'" in message and "(kind)" in message


@pytest.mark.parametrize("settings, key", [({"interval": "often"}, "interval"), ({"alerts": {"Nope": False}}, "alerts")])
def test_bad_add_on_settings_name_their_key(settings, key):
    message = one_issue(config(model(addons=[{"type": "monitoring", **settings}])), f"vllm-fleet:models[0].addons[0].{key}")
    assert message


def test_the_test_prerequisite_check_asks_for_prometheus_when_it_is_missing(tmp_path):
    """`make test` fails in a second with the fix when promtool/prometheus are not installed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "ip", "unshare", "env"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    script = PROJECT_DIR / "scripts" / "check-test-prereqs.sh"
    result = subprocess.run(["bash", str(script)], env={"PATH": str(bin_dir)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "`promtool` not found: apt-get install prometheus" in result.stderr
    assert "`prometheus` not found" in result.stderr
    installed = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60)
    assert "promtool" not in installed.stderr, installed.stderr
