"""Add-on plugins: per-model extras read from the plan, proven by a really pip-installed third-party package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vllm_fleet.plugins import Registry
from .dataplane_support import config, issues, model, named, one_issue, render

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "acme_monitor"
MONITOR = {"type": "acme-monitor", "interval": "15s"}


@pytest.fixture(scope="module")
def monitor_site(tmp_path_factory) -> Path:
    """The fixture package pip-installed (wheel built from its pyproject.toml) into a folder."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(FIXTURE)],
        check=True,
        cwd=tmp_path_factory.mktemp("build"),
    )
    assert list(target.glob("acme_monitor-*.dist-info/entry_points.txt"))
    return target


@pytest.fixture
def with_monitor(monitor_site, monkeypatch):
    monkeypatch.syspath_prepend(str(monitor_site))
    yield
    sys.modules.pop("acme_monitor", None)


def test_the_installed_add_on_is_discovered_by_its_entry_point(with_monitor):
    assert Registry.discover().names("addon") == ["acme-monitor", "autoscaling", "coscheduling", "kueue", "monitoring", "routing", "volcano"]


def test_without_the_package_its_add_on_is_unknown():
    message = one_issue(config(model(addons=[MONITOR])), "vllm-fleet:models[0].addons[0].type")
    assert "unknown addon plugin 'acme-monitor'" in message and "available: autoscaling, coscheduling, kueue, monitoring, routing, volcano" in message


def test_a_stack_renders_the_add_on_from_the_models_plan(with_monitor, tmp_path):
    rendered = render(tmp_path, config(model(addons=[MONITOR], replicas=2)))
    monitor = named(rendered, "ServiceMonitor", "llm")
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]
    assert monitor["metadata"]["annotations"] == {"acme.example.com/groups": "2", "acme.example.com/role": "head"}
    api = named(rendered, "Service", "llm")
    assert monitor["spec"]["selector"]["matchLabels"] == api["metadata"]["labels"]
    [resource] = [r for r in rendered.resources if r.urn.endswith("ServiceMonitor::servicemonitor-llm")]
    assert "vllm-fleet:index:AddOn$" in resource.urn


def test_stack_default_add_ons_apply_unless_a_model_lists_its_own(with_monitor, tmp_path):
    raw = config(model(), model(name="bare", addons=[]), defaults={"addons": [MONITOR]})
    rendered = render(tmp_path, raw)
    assert named(rendered, "ServiceMonitor", "llm")
    assert not [o for o in rendered.objects() if o["kind"] == "ServiceMonitor" and o["metadata"]["name"] == "bare"]


def test_add_on_settings_and_plan_errors_point_into_its_entry(with_monitor):
    bad = issues(config(model(addons=[{"type": "acme-monitor", "interval": "often", "colour": 1}])))
    assert any(line.startswith("vllm-fleet:models[0].addons[0].interval: must match") for line in bad), bad
    assert any(line.startswith("vllm-fleet:models[0].addons[0]: unknown key 'colour'") for line in bad), bad
    message = one_issue(config(model(addons=[{"type": "acme-monitor", "minGroups": 3}])), "vllm-fleet:models[0].addons[0].minGroups")
    assert "runs 1 group(s), fewer than 3" in message


def test_an_add_on_listed_twice_is_refused(with_monitor):
    message = one_issue(config(model(addons=[MONITOR, MONITOR])), "vllm-fleet:models[0].addons[1].type")
    assert "listed twice" in message


@pytest.mark.parametrize("kind,methods", [("addon", ("objects",)), ("workload", ("membership", "objects"))])
def test_new_kinds_must_implement_their_hooks(kind, methods):
    from pydantic import BaseModel

    from vllm_fleet.errors import PluginValidationError
    from vllm_fleet.plugins.registry import validate_plugin

    for missing in methods:
        hooks = {method: (lambda *args: ()) for method in methods if method != missing}
        plugin = type("P", (), {"kind": kind, "name": "p", "Settings": BaseModel, **hooks})()
        with pytest.raises(PluginValidationError, match=rf"a {kind} plugin must define {missing}\(\)"):
            validate_plugin(plugin, "p")
