"""Shared fixtures: the project, a config factory, and rendering of ad-hoc stacks."""

from __future__ import annotations

import copy
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from vllm_fleet.plugins import Registry
from vllm_fleet.render import Render, load_project, render_stack

PROJECT_DIR = Path(__file__).resolve().parent.parent
STACKS = load_project(PROJECT_DIR).stacks()

BASE_CONFIG: dict[str, Any] = {
    "namespace": "llm-test",
    "nodePool": {"gpusPerNode": 8},
    "models": [
        {
            "name": "m",
            "model": "org/model",
            "parallelism": {"tensor": 16, "pipeline": 1},
            "storage": {"type": "new-pvc", "size": "100Gi"},
        }
    ],
}


def base_config(**overrides: Any) -> dict[str, Any]:
    """The raw `vllm-fleet:*` config of a valid stack, with top-level keys replaced."""
    config = copy.deepcopy(BASE_CONFIG)
    config.update(copy.deepcopy(overrides))
    return config


def with_model(**fields: Any) -> dict[str, Any]:
    """A valid config whose only model has `fields` replaced (None deletes a field)."""
    config = base_config()
    model = config["models"][0]
    for key, value in fields.items():
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value
    return config


@pytest.fixture(scope="session")
def registry() -> Registry:
    return Registry.discover()


@pytest.fixture(scope="session")
def project():
    return load_project(PROJECT_DIR)


@pytest.fixture(scope="session")
def stack_renders(project) -> dict[str, Render]:
    """Every stack under stacks/, rendered once for the session (stack name -> Render)."""
    return {stack: render_stack(project, stack) for stack in project.stacks()}


@pytest.fixture
def stack_project(tmp_path: Path) -> Callable[..., Any]:
    """Writes a throwaway project whose stacks are the given configs; returns the Project."""

    def make(**stacks: dict[str, Any]):
        for name in ("Pulumi.yaml", "__main__.py"):
            shutil.copy(PROJECT_DIR / name, tmp_path / name)
        (tmp_path / "stacks").mkdir(exist_ok=True)
        for stack, config in stacks.items():
            document = {"config": {f"vllm-fleet:{key}": value for key, value in config.items()}}
            (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document))
        return load_project(tmp_path)

    return make


@pytest.fixture
def render_config(stack_project) -> Callable[[dict[str, Any]], Render]:
    """Renders one raw config through the real program under mocks."""

    def render(config: dict[str, Any]) -> Render:
        return render_stack(stack_project(test=config), "test")

    return render


def tool(name: str, install: str = "install the test extra (pip install -e '.[test]')") -> str:
    """A command installed by the test extra (beside this Python) or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is missing: {install}"
    return found


def objects_of(render: Render, kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in render.objects() if obj["kind"] == kind}
