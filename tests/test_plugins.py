"""The plugin system: entry-point discovery, protocol checks, a real third-party plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from pydantic import BaseModel

from vllm_fleet.errors import PluginValidationError
from vllm_fleet.plugins import PLUGIN_GROUP, Registry
from vllm_fleet.plugins.registry import validate_plugin

from .conftest import PROJECT_DIR, with_model

FIXTURE = Path(__file__).parent / "fixtures" / "nfs_weights"


def test_builtins_register_through_entry_points():
    names = {ep.name for ep in metadata.entry_points(group=PLUGIN_GROUP)}
    assert {"launcher.ray", "launcher.native", "storage.new-pvc", "storage.existing-pvc"} <= names
    registry = Registry.discover()
    assert registry.names("launcher") == ["native", "ray"]
    assert {"existing-pvc", "new-pvc"} <= set(registry.names("storage"))


class _Good:
    kind = "storage"
    name = "good"

    class Settings(BaseModel):
        pass

    def weights(self, settings, plan):
        raise AssertionError("not called")


@pytest.mark.parametrize(
    "change,message",
    [
        ({"kind": "storge"}, "kind must be one of"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"Settings": dict}, "Settings must be a pydantic BaseModel subclass"),
        ({"weights": None}, "a storage plugin must define weights()"),
    ],
)
def test_protocol_violations_fail_clearly(change, message):
    plugin = type("Broken", (_Good,), change)()
    with pytest.raises(PluginValidationError, match=message):
        validate_plugin(plugin, "broken")


def test_launcher_must_declare_uniform_pods():
    launcher = type("L", (), {"kind": "launcher", "name": "l", "Settings": BaseModel, "entrypoints": lambda *a: None})()
    with pytest.raises(PluginValidationError, match="uniform_pods"):
        validate_plugin(launcher, "l")


def test_duplicate_names_are_rejected():
    registry = Registry([_Good()])
    with pytest.raises(PluginValidationError, match="already registered"):
        registry.register(_Good())


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory) -> Path:
    """pip-installs the fixture package into a folder, as a user's `pip install` would."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(FIXTURE)],
        check=True,
    )
    assert list(target.glob("nfs_weights-*.dist-info/entry_points.txt"))
    return target


def _render_in_subprocess(project_dir: Path, site: Path, out: Path) -> subprocess.CompletedProcess:
    inherited = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(PROJECT_DIR), *inherited])}
    return subprocess.run(
        [sys.executable, "-m", "vllm_fleet.cli", "--project-dir", str(project_dir), "render", "test", "--out", str(out)],
        env=env, capture_output=True, text=True,
    )


def test_third_party_plugin_is_used_from_a_stack(installed_plugin, stack_project, tmp_path):
    config = with_model(parallelism={"tensor": 8}, storage={"type": "nfs", "server": "nfs.lab", "export": "/weights"})
    project = stack_project(test=config)
    result = _render_in_subprocess(project.directory, installed_plugin, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    head = (tmp_path / "out" / "llm-test" / "statefulset-m-head.yaml").read_text()
    assert "server: nfs.lab" in head and "path: /weights" in head
    outputs = json.loads((tmp_path / "out" / "outputs.json").read_text())
    assert outputs["models"]["m"]["weights"] == "nfs nfs.lab:/weights"


def test_third_party_plugin_settings_get_key_path_errors(installed_plugin, stack_project, tmp_path):
    config = with_model(storage={"type": "nfs", "server": "nfs.lab", "export": "weights", "mode": "rw"})
    result = _render_in_subprocess(stack_project(test=config).directory, installed_plugin, tmp_path / "out")
    assert result.returncode == 2
    assert "vllm-fleet:models[0].storage.export: must match ^/, got 'weights'" in result.stderr
    assert "vllm-fleet:models[0].storage: unknown key 'mode'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_without_the_package_the_plugin_is_unknown(stack_project, tmp_path, registry):
    config = with_model(storage={"type": "nfs", "server": "s", "export": "/e"})
    result = _render_in_subprocess(stack_project(test=config).directory, tmp_path, tmp_path / "out")
    assert result.returncode == 2
    assert "unknown storage plugin 'nfs'; available: existing-pvc" in result.stderr
