"""Offline rendering: the real Pulumi program, in-process, under Pulumi's mock monitor.

It reads `Pulumi.yaml` and `stacks/Pulumi.<stack>.yaml` the way the Pulumi CLI
does (stack values replace project defaults key by key), runs `__main__.py`
unchanged, and records what the program registers: exactly the objects
`pulumi up` would submit, plus the resource options (`protect`,
`retainOnDelete`, ...) the mock's plain callback never sees.
"""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import os
import re
import runpy
import shutil
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import yaml

import pulumi
from pulumi.runtime import mocks, settings
from pulumi.runtime import config as runtime_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from .errors import did_you_mean
from .yaml_input import YamlInputError, load_mapping, type_name

REDACTED = "[secret]"
# The mock wraps secret values in {SECRET_SIG: SECRET_VALUE, "value": ...}.
_SECRET_SIG = "4dabf18193072939515e22adb298388d"
INDEX_FILE = "resources.json"
OUTPUTS_FILE = "outputs.json"
#: The folder of a render that holds each model's plan as an SVG.
PICTURES_DIR = "plan"


class RenderError(Exception):
    """The project or stack files can't be read (not a config validation error)."""


# ------------------------------------------------------------ project files


@dataclass(frozen=True)
class Project:
    directory: Path
    name: str
    stack_config_dir: Path
    defaults: dict[str, Any]

    def stack_file(self, stack: str) -> Path:
        return self.stack_config_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in self.stack_config_dir.glob("Pulumi.*.yaml"))


def _namespaced(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def load_project(directory: Path | str = ".") -> Project:
    directory = Path(directory).resolve()
    project_file = directory / "Pulumi.yaml"
    if not project_file.is_file():
        raise RenderError(f"{project_file} not found: run from the project root or pass --project-dir")
    document = _read(project_file, "Pulumi.yaml")
    name = document.get("name")
    if not isinstance(name, str) or not name:
        raise RenderError(f"{project_file}: 'name' is required (a string)")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise RenderError(f"{project_file}: 'config' must be a mapping of keys, got a {type_name(config)}")
    defaults = {}
    for key, entry in config.items():
        # Project config is either a bare value or {type, default|value, description, secret}.
        if isinstance(entry, dict) and ({"default", "value"} & entry.keys() or "type" in entry):
            if "value" in entry or "default" in entry:
                defaults[_namespaced(name, str(key))] = entry.get("value", entry.get("default"))
        else:
            defaults[_namespaced(name, str(key))] = entry
    config_dir = document.get("stackConfigDir", ".")
    if not isinstance(config_dir, str):
        raise RenderError(f"{project_file}: 'stackConfigDir' must be a folder name, got a {type_name(config_dir)}")
    return Project(directory, name, directory / config_dir, defaults)


def _read(path: Path, what: str) -> dict[str, Any]:
    try:
        return load_mapping(path, what)
    except YamlInputError as error:
        raise RenderError(str(error)) from None


def _runtime_value(value: Any) -> str:
    """Pulumi passes config to programs as strings; objects and lists as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def _unknown_stack(project: Project, stack: str) -> RenderError:
    stacks = project.stacks()
    hint = did_you_mean(stack, stacks)
    return RenderError(
        f"stack {stack!r} has no file {project.stack_file(stack)}{hint}; stacks: {', '.join(stacks) or 'none'}"
    )


def stack_config(project: Project, stack: str) -> tuple[dict[str, str], list[str]]:
    """The merged config as the CLI would hand it over, and the keys that are secret."""
    if not _STACK_NAME.match(stack):
        raise RenderError(f"stack name {stack!r} is not a Pulumi stack name (letters, digits, '-', '_', '.')")
    path = project.stack_file(stack)
    if not path.is_file():
        raise _unknown_stack(project, stack)
    document = _read(path, "a stack file")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise RenderError(f"{path}: 'config' must be a mapping of `namespace:key: value`, got a {type_name(config)}")
    merged = dict(project.defaults)
    secret_keys = []
    for key, value in config.items():
        if not isinstance(key, str):
            raise RenderError(f"{path}: config key {key!r} must be a string like vllm-fleet:namespace")
        key = _namespaced(project.name, key)
        if isinstance(value, dict) and "secure" in value:
            if set(value) != {"secure"} or not isinstance(value["secure"], str):
                raise RenderError(f"{path}: {key}: a secret is `secure: <ciphertext>` and nothing else")
            # Encrypted with the stack's secrets provider; only the CLI can decrypt it.
            value = REDACTED
            secret_keys.append(key)
        merged[key] = value
    return {key: _runtime_value(value) for key, value in merged.items()}, secret_keys


# ------------------------------------------------------------------ capture


@dataclass
class RenderedResource:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    protect: bool = False
    retain_on_delete: bool = False
    delete_before_replace: bool = False
    depends_on: list[str] = field(default_factory=list)
    #: Fields `pulumi up` leaves alone after creation (an autoscaled workload's `spec.replicas`).
    ignore_changes: list[str] = field(default_factory=list)

    @property
    def is_kubernetes(self) -> bool:
        return self.custom and self.type.startswith("kubernetes:")

    def index_entry(self, file: Optional[str]) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "file": file,
            "protect": self.protect,
            "retainOnDelete": self.retain_on_delete,
            "deleteBeforeReplace": self.delete_before_replace,
            "dependsOn": sorted(self.depends_on),
            **({"ignoreChanges": sorted(self.ignore_changes)} if self.ignore_changes else {}),
        }


@dataclass
class Render:
    stack: str
    resources: list[RenderedResource]
    outputs: dict[str, Any]

    def objects(self) -> list[dict[str, Any]]:
        return [r.inputs for r in self.resources if r.is_kubernetes]


def _redacted(value: Any) -> Any:
    """A secret's shape without its text: a Secret's stringData keeps its keys, so it stays a valid object."""
    if isinstance(value, dict):
        if _SECRET_SIG in value:
            return REDACTED if value.get("value") is None else _redacted(value["value"])
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return REDACTED


def normalise(value: Any) -> Any:
    """Wire format -> manifest: integral floats become ints, secrets are redacted."""
    if isinstance(value, dict):
        if _SECRET_SIG in value:
            return _redacted(value.get("value"))
        return {key: normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _RecordingMonitor(mocks.MockMonitor):
    """The stock mock monitor, plus a record of each registration's resource options."""

    def __init__(self, mock: pulumi.runtime.Mocks):
        super().__init__(mock)
        self.rendered: list[RenderedResource] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.rendered.append(
                RenderedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=bool(request.custom),
                    parent=request.parent,
                    inputs=normalise(dict(self.resources[response.urn].state)),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    depends_on=list(request.dependencies),
                    ignore_changes=list(request.ignoreChanges),
                )
            )
        return response


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return [f"{args.name}-id", args.inputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


@contextmanager
def _program_environment(project: Project) -> Iterator[None]:
    """The program imports `components` relative to the project, as under the CLI."""
    cwd, path = os.getcwd(), list(sys.path)
    os.chdir(project.directory)
    sys.path.insert(0, str(project.directory))
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.path[:] = path


#: Where the program's `pulumi.log` messages go under the mocks: nowhere. The CLI prints the plan's
#: warnings from the outputs (`print_warnings`), so they would otherwise show twice.
_PROGRAM_LOG = logging.getLogger("vllm_fleet.render.program")
_PROGRAM_LOG.addHandler(logging.NullHandler())
_PROGRAM_LOG.propagate = False


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """No cyclic garbage collection while the program runs; it resumes after.

    A render allocates millions of short-lived objects (Outputs, futures,
    wire dicts) next to a large heap it keeps (pulumi-kubernetes' types, the
    plan, the recorded objects). Each full collection walks that whole heap
    again: 40% of a 200-model render went there (benchmarks/render.py).
    Reference counting still frees nearly all garbage at once; only cycles
    wait for the end of the render (about 30 MB more at peak for 200 models).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def render_stack(project: Project, stack: str) -> Render:
    """Runs the program for `stack` and returns what it registered. Raises ConfigError on bad config."""
    config, secret_keys = stack_config(project, stack)
    mock = _Mocks()
    recorder = _RecordingMonitor(mock)
    settings.reset_options(project=project.name, stack=stack, preview=False)
    pulumi.runtime.set_mocks(mock, project=project.name, stack=stack, preview=False, monitor=recorder, logger=_PROGRAM_LOG)
    runtime_config.set_all_config(config, secret_keys)
    outputs: dict[str, Any] = {}

    async def program() -> None:
        with _program_environment(project):
            runpy.run_path(str(project.directory / "__main__.py"), run_name="__main__")
        root = settings.get_root_resource()
        for key, value in getattr(root, "outputs", {}).items():
            outputs[key] = normalise(await pulumi.Output.from_input(value).future())

    try:
        with cycle_collection_paused():
            _sync_await(run_pulumi_func(program))
    finally:
        settings.reset_options()
        runtime_config.set_all_config({}, [])
    if not any(resource.is_kubernetes for resource in recorder.rendered):
        # A Pulumi SDK that never awaited the program would "succeed" with nothing.
        raise RenderError(f"stack {stack!r}: the program registered no Kubernetes object (pulumi SDK too old?)")
    return Render(stack, recorder.rendered, outputs)


# ------------------------------------------------------------------- output


def _string(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _literal_dumper(base: type) -> type:
    """`base` with multi-line strings (the entrypoint scripts) as readable `|` blocks."""
    dumper = type(f"_Literal{base.__name__}", (base,), {})
    dumper.add_representer(str, _string)
    return dumper


# libyaml's emitter writes the same bytes about 5x faster than PyYAML's Python one
# (tests/test_render_output.py compares them on every stack); PyYAML may be built without it.
PURE_DUMPER = _literal_dumper(yaml.SafeDumper)
DUMPER = _literal_dumper(yaml.CSafeDumper) if getattr(yaml, "__with_libyaml__", False) else PURE_DUMPER
_HEAD_KEYS = ("apiVersion", "kind", "metadata")


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def to_yaml(obj: dict[str, Any], dumper: type = DUMPER) -> str:
    """Stable text: apiVersion, kind, metadata first, every mapping sorted below."""
    ordered = {key: _sorted(obj[key]) for key in _HEAD_KEYS if key in obj}
    ordered.update({key: _sorted(obj[key]) for key in sorted(obj) if key not in _HEAD_KEYS})
    text = yaml.dump(ordered, Dumper=dumper, sort_keys=False, width=120)
    if dumper is not PURE_DUMPER and text.endswith("\n...\n"):
        # The one difference known: after a keep-chomped block (`|+`, a string ending in a
        # blank line) libyaml ends the document with `...`, PyYAML doesn't. Rare; keep the old bytes.
        return to_yaml(obj, PURE_DUMPER)
    return text


def object_path(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    return f"{meta.get('namespace') or '_cluster'}/{obj['kind'].lower()}-{meta['name']}.yaml"


def write_pictures(render: Render, out_dir: Path) -> list[Path]:
    """The plan of each model as an SVG (`<model>.svg`, vllm_fleet/plan_picture.py) into `out_dir`."""
    from .plan_picture import plan_pictures

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, svg in plan_pictures(render.outputs).items():
        (out_dir / name).write_text(svg)
        written.append(out_dir / name)
    return written


#: Below this many objects one process writes them all: starting another costs more than it saves.
PARALLEL_WRITE_MIN_OBJECTS = 300
#: At most this many processes share the writing (YAML's representer is pure Python: one core each).
PARALLEL_WRITE_MAX_PROCESSES = 4


def _write_objects(staging: Path, jobs: list[tuple[str, dict[str, Any]]]) -> None:
    for file, obj in jobs:
        (staging / file).write_text(to_yaml(obj))


def _write_objects_in_parallel(staging: Path, jobs: list[tuple[str, dict[str, Any]]]) -> None:
    """Turning objects into YAML is about half of a large render: forked processes share it, one core each.

    The bytes don't depend on which process writes a file; a process that fails fails the render.
    """
    processes = min(os.cpu_count() or 1, PARALLEL_WRITE_MAX_PROCESSES)
    if processes < 2 or len(jobs) < PARALLEL_WRITE_MIN_OBJECTS or "fork" not in multiprocessing.get_all_start_methods():
        _write_objects(staging, jobs)
        return
    fork = multiprocessing.get_context("fork")
    helpers = [fork.Process(target=_write_objects, args=(staging, jobs[share::processes])) for share in range(1, processes)]
    for helper in helpers:
        helper.start()
    try:
        _write_objects(staging, jobs[0::processes])
    finally:
        for helper in helpers:
            helper.join()
    failed = [helper.exitcode for helper in helpers if helper.exitcode != 0]
    if failed:
        raise RenderError(f"writing the objects failed in {len(failed)} of {processes} processes (exit {failed[0]})")


def write_render(render: Render, out_dir: Path | str) -> Path:
    """Writes the objects all at once: into a temporary folder, then swapped in.

    An existing folder is replaced only if it holds an earlier render (its
    resources.json), so a mistyped --out never deletes someone's files.
    """
    out_dir = Path(out_dir).resolve()
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / INDEX_FILE).is_file():
        raise RenderError(f"{out_dir} exists and is not an earlier render (no {INDEX_FILE}); choose another --out")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        index, jobs = [], []
        for resource in render.resources:
            file = None
            if resource.is_kubernetes:
                file = object_path(resource.inputs)
                jobs.append((file, resource.inputs))
            index.append(resource.index_entry(file))
        for folder in {Path(file).parent for file, _ in jobs}:
            (staging / folder).mkdir(parents=True, exist_ok=True)
        _write_objects_in_parallel(staging, jobs)
        index.sort(key=lambda entry: entry["urn"])
        (staging / INDEX_FILE).write_text(json.dumps({"stack": render.stack, "resources": index}, indent=2) + "\n")
        (staging / OUTPUTS_FILE).write_text(json.dumps(render.outputs, indent=2, sort_keys=True) + "\n")
        write_pictures(render, staging / PICTURES_DIR)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out_dir
