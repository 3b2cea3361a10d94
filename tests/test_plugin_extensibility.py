"""A plugin from outside `components/` installs through the entry-point group and a stack uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vllm_fleet.plugins import Registry
from .dataplane_support import config, issues, model, named, one_issue, pod_spec, render

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "acme_fabric"


@pytest.fixture(scope="module")
def acme_site(tmp_path_factory) -> Path:
    """The fixture package really pip-installed (wheel built from its pyproject.toml) into a folder."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(FIXTURE)],
        check=True,
        cwd=build,
    )
    assert list(target.glob("acme_fabric-*.dist-info"))
    return target


@pytest.fixture
def with_acme(acme_site, monkeypatch):
    monkeypatch.syspath_prepend(str(acme_site))
    yield
    sys.modules.pop("acme_fabric", None)


def test_installed_plugin_is_discovered_by_its_entry_point(with_acme):
    assert "acme" in Registry.discover().names("network")


def test_a_stack_uses_the_installed_plugin(with_acme, tmp_path):
    raw = config(model(network={"type": "acme", "resourceName": "acme.io/vf", "lanes": 2}))
    rendered = render(tmp_path, raw)
    nad = named(rendered, "NetworkAttachmentDefinition", "llm-acme")
    assert json.loads(nad["spec"]["config"])["lanes"] == 2
    head = pod_spec(named(rendered, "StatefulSet", "llm-head"))
    assert head["containers"][0]["resources"]["limits"]["acme.io/vf"] == 1
    assert rendered.outputs["models"]["llm"]["network"] == "acme RDMA on acme0"


def test_installed_plugin_settings_get_core_key_path_errors(with_acme):
    raw = config(model(network={"type": "acme", "resourceName": "nvidia.com/vf", "lanes": 9, "speed": 1}))
    found = issues(raw)
    assert any(line.startswith("vllm-fleet:models[0].network.resourceName: must match") for line in found), found
    assert any(line.startswith("vllm-fleet:models[0].network.lanes: ") for line in found), found
    assert any(line.startswith("vllm-fleet:models[0].network: unknown key 'speed'") for line in found), found


def test_unknown_plugin_name_lists_the_available_ones():
    message = one_issue(config(model(network={"type": "infiniband"})), "vllm-fleet:models[0].network.type")
    assert "unknown network plugin 'infiniband'" in message
    assert "available: host-device, ipoib, macvlan, rdma-shared, sriov" in message
    cache = one_issue(config(model(cache={"type": "alluxo"})), "vllm-fleet:models[0].cache.type")
    assert "did you mean 'alluxio'" in cache and "available: alluxio, jindo, juicefs" in cache


def test_none_is_reserved_for_switching_a_slot_off():
    from vllm_fleet.errors import PluginValidationError
    from vllm_fleet.builtin.networks import RdmaSharedNetwork

    none = type("NoneNetwork", (RdmaSharedNetwork,), {"name": "none"})()
    with pytest.raises(PluginValidationError, match="reserved"):
        Registry([none])
