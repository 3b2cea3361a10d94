"""No config value ever runs as code: every script of every plugin, rendered with hostile values, RUN in bash.

Values go in past pydantic (`model_construct`, `model_copy(update=...)`), so this
proves the template layer itself is safe, not the validation in front of it.
Every string setting of every storage, launcher and workload plugin the registry
finds, the model name, model id, served name and serve argv get the same hostile
value; every script the plugins hand back (ConfigMap `*.sh` data, any `bash -c`
container anywhere in any object, a workload's membership wrapper for every role
of a group with replicas) runs in bash with stand-in commands first on PATH. No payload may create the canary file, and the stand-ins must receive the
hostile value as one exact argv element. A shell template that no plugin
rendered here fails the coverage check, so a new script is covered or noticed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import typing
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import pytest

from vllm_fleet import templates
from vllm_fleet.plan import Names, PlanError
from vllm_fleet.plugins import Registry
from vllm_fleet.plugins.types import ObjectSpec, WeightsPlan
from vllm_fleet.stack_config import SecretValue
from .dataplane_support import ALLUXIO, config, model, plans

TEMPLATE_DIR = Path(templates.TEMPLATE_DIR)
CANARY = "CANARY"  # replaced by the canary file's path in each run


def _payloads() -> list[str]:
    touch = f"touch {CANARY}"
    return [
        f'main"; {touch}; echo "',
        f"$({touch})",
        f"`{touch}`",
        f"x'; {touch}; echo '",
        f"a\n{touch}\n",
        f"a; {touch} #",
        f"a && {touch} || {touch}",
        f"${{IFS}}$({touch})",
        f"ünï\u2028cödé 🚀 $({touch})",
        f"--flag=$({touch})",
        "--help",
        f"\\$({touch})\\",
        f"PY\n{touch}\nPY",
        f"#\n{touch}",
        f"a\r\n{touch}",
        f"$'\\n'{touch}",
        f"*; {touch} > {CANARY}",
    ]


STANDIN = """#!/bin/bash
f=$(mktemp "$STANDIN_CALLS/call.XXXXXX")
printf '%s\\0' "${0##*/}" "$@" >"$f"
"""
# The Ray group query answers "the planned group is complete", so the head goes on to `vllm serve`.
PYTHON_STANDIN = STANDIN + 'echo "VF_GROUP $STANDIN_NODES $STANDIN_GPUS h h@127.0.0.1 h@127.0.0.1 - - -"\n'
STANDINS = {name: STANDIN for name in ("hf", "aws", "vllm", "ray", "curl", "getent", "kubectl")}
STANDINS["python3"] = PYTHON_STANDIN
# Waits poll with `sleep`: shortened so bounded waits end within the test's time.
STANDINS["sleep"] = "#!/bin/bash\nexec /bin/sleep 0.05\n"


# ------------------------------------------------------------ hostile plans


def _base_plans():
    """A multi-pod group (ray, native), a single pod, with a token for gated repos."""
    raw = config(
        model(name="group"),
        model(name="single", parallelism={"tensor": 1}),
    )
    group, single = plans(raw)
    return [replace(p, hf_token=SecretValue("hf_x")) for p in (group, single)]


def _hostile_plan(plan, value: str):
    config_ = plan.config.model_copy(update={"name": value, "model": value, "served_model_name": value})
    serve_args = (f"/models/{value}", "--served-model-name", value, "--tokenizer", value, value)
    return replace(plan, config=config_, names=Names(value, plan.namespace), serve_args=serve_args)


def _hostile_settings(settings_type, value: str, **overrides: Any):
    """Every string (and list-of-string) setting set to `value`; ints small; the rest default."""
    fields: dict[str, Any] = {}
    for name, info in settings_type.model_fields.items():
        kinds = {info.annotation, *typing.get_args(info.annotation)}
        if any(typing.get_origin(k) is list and typing.get_args(k) == (str,) for k in kinds):
            fields[name] = [value, "*.json"]
        elif str in kinds:
            fields[name] = value
        elif int in kinds and bool not in kinds:
            fields[name] = 1
    fields.update(overrides)
    return settings_type.model_construct(**fields)


def _cache_settings(registry: Registry):
    plugin = registry.find("cache", "alluxio")
    return plugin, plugin.Settings.model_validate({k: v for k, v in ALLUXIO.items() if k != "type"})


def _membership_run(membership, value: str) -> dict[str, Any]:
    """How a wrapper runs in its pod: its env entries resolved, the hostile value in the command it execs."""
    env: dict[str, str] = {}
    for entry in (*membership.head_address, *membership.index):
        # Field refs (pod name, ordinal) and the operator's variables (`$(LWS_WORKER_INDEX)`) stand in as "1".
        text = entry.get("value", "1")
        env[entry["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], "1"), text)
    return {"env": env, "args": ["vllm", "serve", value, value]}


def _rendered(value: str, registry: Registry) -> Iterator[tuple[str, Any, Any, dict[str, Any]]]:
    """(label, plan, result, how its scripts run) for everything each plugin returns for this hostile value."""
    cache, cache_settings = _cache_settings(registry)
    for base in _base_plans():
        plan = _hostile_plan(base, value)
        for name in registry.names("launcher"):
            launcher = registry.find("launcher", name)
            yield f"launcher.{name}", plan, launcher.entrypoints(_hostile_settings(launcher.Settings, value), plan), {}
        grouped = replace(plan, replicas=2)
        for name in registry.names("workload"):
            workload = registry.find("workload", name)
            for role in grouped.roles:
                membership = workload.membership(_hostile_settings(workload.Settings, value), grouped, role.role)
                yield f"workload.{name}", grouped, membership, _membership_run(membership, value)
        for name in registry.names("storage"):
            storage = registry.find("storage", name)
            variants = [_hostile_settings(storage.Settings, value)]
            if "url" in storage.Settings.model_fields:  # a URL that keeps its scheme reaches the command
                variants.append(_hostile_settings(storage.Settings, value, url=f"s3://bucket/{value}"))
            for settings in variants:
                try:
                    weights = storage.weights(settings, plan)
                except PlanError:
                    continue
                yield f"storage.{name}", plan, weights, {}
                if weights.mount is not None and not weights.remote:
                    yield f"storage.{name}+cache", plan, cache.dataset(cache_settings, plan, weights), {}


def _scripts(thing: Any) -> Iterator[tuple[str, str]]:
    """Every script inside a plugin result: ConfigMap data and `bash -c` commands, found by walking it."""
    if isinstance(thing, ObjectSpec):
        if thing.kind == "ConfigMap":
            for key, text in thing.body.get("data", {}).items():
                if key.endswith(".sh"):
                    yield f"{thing.kind}/{key}", text
        yield from _scripts(thing.body)
    elif isinstance(thing, WeightsPlan):
        for obj in thing.objects:
            yield from _scripts(obj)
        yield from _scripts(list(thing.pod.init_containers))
    elif hasattr(thing, "scripts") and isinstance(thing.scripts, dict):  # Entrypoints, Membership
        yield from thing.scripts.items()
    elif hasattr(thing, "loads"):  # CachePlan
        for obj in thing.objects:
            yield from _scripts(obj)
    elif isinstance(thing, dict):
        command = thing.get("command")
        if isinstance(command, list) and len(command) == 3 and command[0].endswith("bash") and command[1] == "-c":
            yield f"container {thing.get('name')}", command[2]
        for item in thing.values():
            yield from _scripts(item)
    elif isinstance(thing, list):
        for item in thing:
            yield from _scripts(item)


# ---------------------------------------------------------------- running


def _run(script: str, args: list[str], workdir: Path, env_extra: dict[str, str]) -> tuple[int, str]:
    models = workdir / "models"
    (workdir / "bin").mkdir(exist_ok=True)
    for name, text in STANDINS.items():
        path = workdir / "bin" / name
        path.write_text(text)
        path.chmod(0o755)
    (workdir / "calls").mkdir(exist_ok=True)
    # The scripts address the weights at /models: the test gives them a folder of their own.
    path = workdir / "script.sh"
    path.write_text(script.replace("/models", str(models)))
    env = {
        "PATH": f"{workdir / 'bin'}:{os.environ['PATH']}",
        "HOME": str(workdir),
        "STANDIN_CALLS": str(workdir / "calls"),
        "POD_IP": "127.0.0.1",
        "VLLM_FLEET_HEAD_ADDRESS": "127.0.0.1",
        "VLLM_FLEET_POD_INDEX": "0",
        "VLLM_FLEET_STATE_DIR": str(workdir / "state"),
        "RAY_TMPDIR": str(workdir / "ray"),
        **env_extra,
    }
    process = subprocess.Popen(
        ["bash", str(path), *args], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
    else:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # children a script left behind
        except ProcessLookupError:
            pass
    return process.returncode, output.decode(errors="replace")


def _calls(workdir: Path) -> list[list[str]]:
    calls = []
    for path in sorted((workdir / "calls").glob("call.*")):
        calls.append(path.read_bytes().decode().split("\0")[:-1])
    return calls


def _args_for(key: str) -> list[str]:
    if key.endswith("probe.sh"):
        return ["head", "readiness"]
    return []


@pytest.fixture(scope="module")
def registry():
    return Registry.discover()


@pytest.mark.parametrize("payload", range(len(_payloads())), ids=lambda i: repr(_payloads()[i])[:30])
def test_no_hostile_value_runs_in_any_script(payload, registry, tmp_path, monkeypatch):
    canary = tmp_path / "canary"
    value = _payloads()[payload].replace(CANARY, str(canary))
    rendered_templates: set[str] = set()
    environment = templates.environment

    def recording(template: str):
        rendered_templates.add(template)
        return environment(template)

    monkeypatch.setattr(templates, "environment", recording)
    ran = 0
    seen: dict[str, int] = {}
    for label, plan, result, how in _rendered(value, registry):
        for key, script in _scripts(result):
            workdir = tmp_path / f"run{ran}"
            workdir.mkdir()
            ran += 1
            group = {"STANDIN_NODES": str(plan.gpus.pods), "STANDIN_GPUS": str(plan.gpus.total_gpus), **how.get("env", {})}
            rc, output = _run(script, how.get("args", _args_for(key)), workdir, group)
            where = f"{label} {key} (exit {rc})"
            assert not canary.exists(), f"payload ran in {where}:\n{output[-3000:]}"
            calls = _calls(workdir)
            _check_argv(where, calls, value, output)
            seen[label] = seen.get(label, 0) + len(calls)
    _check_coverage(rendered_templates)
    # The stand-ins were reached: a run that failed before any command would prove nothing.
    assert seen["storage.huggingface"] and seen["storage.s3"] and seen["launcher.ray"] and seen["launcher.native"]
    workloads = {label: count for label, count in seen.items() if label.startswith("workload.")}
    assert workloads and all(workloads.values()), seen


def _check_argv(where: str, calls: list[list[str]], value: str, output: str) -> None:
    """What each stand-in got: the hostile value whole, as one element, never split or expanded."""
    for argv in calls:
        tool, args = argv[0], argv[1:]
        if tool == "hf":
            assert args[:1] == ["download"] and args[-2:] == ["--", value], f"{where}: hf got {args!r}"
            assert f"--revision={value}" in args and f"--include={value}" in args, f"{where}: hf got {args!r}"
        elif tool == "aws":
            assert f"--endpoint-url={value}" in args and f"--region={value}" in args, f"{where}: aws got {args!r}"
            assert f"s3://bucket/{value}".rstrip("/") + "/" in args, f"{where}: aws got {args!r}"
        elif tool == "vllm":
            assert args[0] == "serve" and args.count(value) >= 2, f"{where}: vllm got {args!r}"
    tools = {argv[0] for argv in calls}
    if "aws" not in tools and "s3" in where and "fetch.sh" in where:
        # A URL without s3:// never reaches aws: the script refuses it.
        assert not value.startswith("s3://") and "refusing to sync" in output, f"{where}:\n{output[-2000:]}"


def _check_coverage(rendered: set[str]) -> None:
    entry_templates = {
        str(path.relative_to(TEMPLATE_DIR))
        for path in TEMPLATE_DIR.rglob("*.sh.j2")
        if not path.name.startswith("_")
    }
    missing = entry_templates - rendered
    assert not missing, f"shell templates no plugin rendered with hostile values: {sorted(missing)}"


# ------------------------------------------------- the environment's own rules


def _render_text(source: str, **context: Any) -> str:
    return templates.shell_environment().from_string(source).render(**context)


@pytest.mark.parametrize(
    "source",
    [
        'echo "{{ v }}"',  # double quotes: quoting cannot protect
        "echo '{{ v }}'",
        "# comment {{ v }}",
        "x=1 # {{ v }}",
        'echo "$(echo "{{ v }}")"',
        "cat <<EOF\n{{ v }}\nEOF",
        "cat <<'PY'\n{{ v }}\nPY",
        'echo "${x:-{{ v }}}"',
        'echo "{{ v | shquote }}"',
    ],
)
def test_strings_are_refused_where_quoting_cannot_protect_them(source):
    with pytest.raises(templates.UnsafeShellValue):
        _render_text(source, v="a$(id)")


@pytest.mark.parametrize(
    "source, expected",
    [
        ("x={{ v }}", "x='a$(id)'"),
        ("run {{ v }} --flag", "run 'a$(id)' --flag"),
        ('echo "$(cmd {{ v }})"', "echo \"$(cmd 'a$(id)')\""),
        ("echo $(( 1 + {{ n }} ))", "echo $(( 1 + 7 ))"),
        ('echo "{{ n }} {{ lit }}"', 'echo "7 .marker"'),
        ("# {{ n }} s", "# 7 s"),
        ("cat <<EOF\n{{ n }}\nEOF\nx={{ v }}", "cat <<EOF\n7\nEOF\nx='a$(id)'"),
        ("y=$# z={{ v }}", "y=$# z='a$(id)'"),
        ("a=( {{ v | shquote }} )", "a=( 'a$(id)' )"),
    ],
)
def test_values_in_word_position_are_quoted(source, expected):
    assert _render_text(source, v="a$(id)", n=7, lit=templates.Literal(".marker")) == expected


@pytest.mark.parametrize("value", [None, True, 1.5, ["a"], {"a": 1}])
def test_values_that_are_no_string_or_int_are_refused(value):
    with pytest.raises(templates.UnsafeShellValue):
        _render_text("x={{ v }}", v=value)


def test_a_literal_holds_only_inert_characters():
    with pytest.raises(templates.UnsafeShellValue):
        templates.Literal("a b")
    with pytest.raises(templates.UnsafeShellValue):
        templates.Literal("$(id)")


def test_text_templates_are_not_shell_quoted():
    assert templates.environment("preview/pr-comment.md.j2") is templates.text_environment()
    assert templates.environment("fetch/wait.sh.j2") is templates.shell_environment()
