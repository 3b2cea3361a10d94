"""The monitoring add-on's rules and dashboard queries, checked by Prometheus's own promtool.

`promtool check rules` parses every rendered rule (PromQL and annotation
templates); `promtool test rules` feeds synthetic series generated from the
same thresholds and proves each alert fires past its threshold and stays quiet
short of it. Debian's `prometheus` package ships promtool.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from vllm_fleet.builtin.monitoring import ALERTS, MonitoringSettings, prometheus_rule, stack_dashboard

from .dataplane_support import config, model, plan
from .monitoring_support import expressions_file, promtool, promtool_tests, ray_plan_with_fetch_and_cache, rule_file

CUSTOM = MonitoringSettings.model_validate({
    "notServing": {"for": "7m"},
    "restartLoop": {"restarts": 5, "window": "20m"},
    "requestsWaiting": {"threshold": 3, "for": "2m"},
    "kvCacheUsage": {"threshold": 0.8, "for": "3m"},
    "timeToFirstToken": {"quantile": 0.99, "seconds": 0.5, "for": "4m"},
    "requestLatency": {"quantile": 0.5, "seconds": 20, "for": "1m"},
    "errorRate": {"ratio": 0.2, "for": "2m"},
    "rateWindow": "2m",
    "cacheWarmup": {"deadline": "45m"},
})
SETTINGS = {"defaults": MonitoringSettings(), "custom": CUSTOM}


def _groups(settings, planned):
    return prometheus_rule(settings, planned).body["spec"]["groups"]


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_rendered_rules_pass_promtool_check(tmp_path, name):
    planned = ray_plan_with_fetch_and_cache()
    rules = rule_file(_groups(SETTINGS[name], planned), tmp_path / "rules.yaml")
    result = promtool("check", "rules", str(rules), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_alert_fires_past_its_threshold_and_stays_quiet_short_of_it(tmp_path, name):
    settings, planned = SETTINGS[name], ray_plan_with_fetch_and_cache()
    rule_file(_groups(settings, planned), tmp_path / "rules.yaml", strip_annotations=True)
    tests = promtool_tests(settings, planned, "rules.yaml")
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    fired = {t["alert_rule_test"][0]["alertname"] for t in tests["tests"] if t["alert_rule_test"][0]["exp_alerts"]}
    quiet = {t["alert_rule_test"][0]["alertname"] for t in tests["tests"] if not t["alert_rule_test"][0]["exp_alerts"]}
    assert fired == quiet == set(ALERTS)


def test_promtool_test_fails_when_a_threshold_drifts(tmp_path):
    """The cases are tied to the thresholds: rules rendered with another threshold fail them."""
    planned = ray_plan_with_fetch_and_cache()
    drifted = MonitoringSettings.model_validate({"requestsWaiting": {"threshold": 21}})
    rule_file(_groups(drifted, planned), tmp_path / "rules.yaml", strip_annotations=True)
    tests = promtool_tests(MonitoringSettings(), planned, "rules.yaml")
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "VllmRequestsWaiting" in result.stdout + result.stderr


def test_alerts_switched_off_are_neither_rendered_nor_tested(tmp_path):
    planned = ray_plan_with_fetch_and_cache()
    settings = MonitoringSettings.model_validate({"alerts": {"VllmKvCacheNearlyFull": False, "VllmRestartLoop": False}})
    rules = rule_file(_groups(settings, planned), tmp_path / "rules.yaml", strip_annotations=True)
    result = promtool("check", "rules", str(rules), cwd=tmp_path)
    assert f"SUCCESS: {len(ALERTS) - 2} rules found" in result.stdout, result.stdout + result.stderr
    tests = promtool_tests(settings, planned, "rules.yaml")
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    assert promtool("test", "rules", "tests.yaml", cwd=tmp_path).returncode == 0


def _panel_expressions(dashboard: dict) -> list[str]:
    # Grafana fills $__rate_interval at query time; any valid range parses the same way.
    return [
        target["expr"].replace("$__rate_interval", "5m")
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def test_every_dashboard_query_parses_as_promql(tmp_path):
    plans = [ray_plan_with_fetch_and_cache(), plan(config(model(name="small", parallelism={"tensor": 2})))]
    spec = stack_dashboard(plans, {p.name: MonitoringSettings() for p in plans})
    dashboard = json.loads(spec.body["data"]["vllm-fleet.json"])
    expressions = _panel_expressions(dashboard)
    assert len(expressions) == 2 * 17
    assert not [e for e in expressions if re.search(r"\$(?!__)", e)], "no dashboard variable left in a query"
    checked = expressions_file(expressions, tmp_path / "panels.yaml")
    result = promtool("check", "rules", str(checked), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(expressions)} rules found" in result.stdout


def test_promtool_rejects_a_broken_expression(tmp_path):
    """The parse check above can fail: a query with an unbalanced brace is refused."""
    checked = expressions_file(["sum(vllm:num_requests_waiting{model=\"m\")"], tmp_path / "broken.yaml")
    assert promtool("check", "rules", str(checked), cwd=tmp_path).returncode == 1
