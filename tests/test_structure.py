"""The shape of the code: no import cycle among config, plan and plugins; plugins use only the SDK; short functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import PROJECT_DIR

#: The Pulumi layer (`components/`) and everything else (`vllm_fleet/`): one import graph.
PACKAGES = (PROJECT_DIR / "components", PROJECT_DIR / "vllm_fleet")
PACKAGE = PROJECT_DIR / "vllm_fleet"
_ROOTS = tuple(package.name for package in PACKAGES)
#: What a built-in plugin may import from the project: the SDK, the public constants, its siblings.
PLUGIN_IMPORTS_ALLOWED = ("vllm_fleet.sdk", "vllm_fleet.constants", "vllm_fleet.builtin")
MAX_FUNCTION_LINES = 60


def _module(path: Path) -> str:
    parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(path: Path) -> set[str]:
    """Project modules `path` imports when it runs (imports under `if TYPE_CHECKING:` excluded)."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                if base.startswith(_ROOTS):
                    found.add(base)
                    found.update(f"{base}.{alias.name}" for alias in child.names if (PACKAGE.parent / f"{base}.{alias.name}".replace(".", "/")).with_suffix(".py").exists())
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names if alias.name.startswith(_ROOTS))
            visit(child)

    visit(ast.parse(path.read_text()))
    return found - {module}


def _graph() -> dict[str, set[str]]:
    """Module -> project modules it imports at run time; importing `a.b.c` also runs `a.b` (its package)."""
    modules = {_module(path): path for package in PACKAGES for path in package.rglob("*.py")}

    def with_packages(target: str) -> set[str]:
        parts = target.split(".")
        return {".".join(parts[:n]) for n in range(1, len(parts) + 1)}

    graph = {}
    for name, path in modules.items():
        targets = set().union(*(with_packages(t) for t in _runtime_imports(path))) if _runtime_imports(path) else set()
        graph[name] = {t for t in targets if t in modules and t != name and not name.startswith(t + ".")}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), i.e. import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def test_the_import_graph_has_no_cycle():
    graph = _graph()
    assert {"vllm_fleet.config", "vllm_fleet.plan", "vllm_fleet.sdk", "vllm_fleet.builtin.workloads"} <= graph.keys()
    assert "vllm_fleet.plan" in graph["vllm_fleet.sdk"] and "vllm_fleet.config" in graph["vllm_fleet.plan"]
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_config_and_plan_import_no_plugin_implementation():
    graph = _graph()
    for module in ("vllm_fleet.config", "vllm_fleet.plan", "vllm_fleet.sdk"):
        assert not [m for m in graph[module] if m.startswith("vllm_fleet.builtin")], module


@pytest.mark.parametrize("path", sorted((PACKAGE / "builtin").glob("*.py")), ids=lambda p: p.name)
def test_builtin_plugins_import_only_the_sdk(path):
    forbidden = sorted(m for m in _runtime_imports(path) if not m.startswith(PLUGIN_IMPORTS_ALLOWED))
    assert not forbidden, f"{path.name} imports {forbidden}; plugins use vllm_fleet.sdk"


def test_no_function_is_longer_than_the_limit():
    long = []
    for path in sorted(path for package in PACKAGES for path in package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PROJECT_DIR)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "\n".join(long)


def test_the_pulumi_layer_holds_only_components():
    """components/ is the home of the Pulumi ComponentResources; config, plan, plugins and tools live in vllm_fleet/."""
    graph = _graph()
    pulumi_layer = [name for name in graph if name.startswith("components.")]
    assert pulumi_layer, "no module found under components/"
    for name in pulumi_layer:
        source = (PROJECT_DIR / name.replace(".", "/")).with_suffix(".py").read_text()
        assert "import pulumi" in source or name.endswith("_k8s"), f"{name} registers nothing: move it to vllm_fleet/"
    assert not [m for m in graph if m.startswith("vllm_fleet.") and "components" in " ".join(graph[m])], (
        "vllm_fleet imports the Pulumi layer"
    )
