"""The rendered files: libyaml's dumper writes exactly the bytes PyYAML's Python dumper writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vllm_fleet import render as render_module
from vllm_fleet.render import PURE_DUMPER, to_yaml

from .dataplane_support import render
from .test_dataplane_render import _every_plugin

# Scalars where emitters are known to disagree: quoting, block styles, unicode, width.
AWKWARD_STRINGS = [
    "", " ", "yes", "no", "on", "null", "~", "0755", "1e3", "1_000", "0x1F", "-", "- a", "a: b", "#x", "a #b",
    "'quoted'", '"double"', "tab\there", "trailing space ", " leading", "ünïcödé ✓", "emoji 🔴",
    "line one\nline two", "ends with newline\n", "two newlines\n\n", "indented\n  more\n", "\nleading newline",
    "\n", "a\n\n\n", "trailing spaces \nnext", "x" * 300, "word " * 60, "a\u2028b", "%percent", "@at", "`tick`", "*star", "&amp",
    "!bang", "|pipe", ">gt", "[list]", "{map}", "?q", "key=value,other=x", "C:\\path", "\u00a0nbsp",
]


def test_the_c_dumper_is_used_when_libyaml_is_present():
    # PyYAML's wheels bundle libyaml; CI runs with it, so the fast path is the one under test.
    assert yaml.__with_libyaml__
    assert issubclass(render_module.DUMPER, yaml.CSafeDumper)
    assert issubclass(PURE_DUMPER, yaml.SafeDumper) and not issubclass(PURE_DUMPER, yaml.CSafeDumper)


def _assert_same_bytes(objects):
    assert objects, "nothing to compare"
    for obj in objects:
        fast, pure = to_yaml(obj), to_yaml(obj, dumper=PURE_DUMPER)
        assert fast == pure, f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}: the C dumper differs"


@pytest.mark.parametrize("stack", ["dev", "prod", "staging"])
def test_every_shipped_stack_writes_identical_bytes_with_both_dumpers(stack_renders, stack):
    _assert_same_bytes(stack_renders[stack].objects())


def test_every_plugin_stack_writes_identical_bytes_with_both_dumpers(tmp_path: Path):
    _assert_same_bytes(render(tmp_path, _every_plugin(), stack="every-plugin").objects())


@pytest.mark.parametrize("value", AWKWARD_STRINGS, ids=range(len(AWKWARD_STRINGS)))
def test_awkward_strings_write_identical_bytes_with_both_dumpers(value):
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": value, "n": [value, 1.5]}}
    _assert_same_bytes([obj])
    assert yaml.safe_load(to_yaml(obj))["data"]["k"] == value


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_forked_writers_write_the_same_files_as_one_process(stack_renders, tmp_path, monkeypatch):
    """Above the threshold the YAML is written by forked processes; the files must not change."""
    serial = render_module.write_render(stack_renders["prod"], tmp_path / "serial")
    forks = []
    real_context = render_module.multiprocessing.get_context

    def counting_context(method):
        forks.append(method)
        return real_context(method)

    monkeypatch.setattr(render_module, "PARALLEL_WRITE_MIN_OBJECTS", 1)
    monkeypatch.setattr(render_module.os, "cpu_count", lambda: 3)
    monkeypatch.setattr(render_module.multiprocessing, "get_context", counting_context)
    parallel = render_module.write_render(stack_renders["prod"], tmp_path / "parallel")
    assert forks == ["fork"], "the parallel path did not run"
    assert _tree(parallel) == _tree(serial)


def test_a_failing_writer_process_fails_the_render(stack_renders, tmp_path, monkeypatch):
    monkeypatch.setattr(render_module, "PARALLEL_WRITE_MIN_OBJECTS", 1)
    monkeypatch.setattr(render_module.os, "cpu_count", lambda: 2)
    real_write = render_module._write_objects

    def write_or_fail(staging, jobs):
        if render_module.os.getpid() != parent:
            raise SystemExit(3)
        real_write(staging, jobs)

    parent = render_module.os.getpid()
    monkeypatch.setattr(render_module, "_write_objects", write_or_fail)
    with pytest.raises(render_module.RenderError, match="exit 3"):
        render_module.write_render(stack_renders["prod"], tmp_path / "out")
    assert not (tmp_path / "out").exists(), "a failed render leaves nothing behind"


def test_the_cycle_collector_is_paused_only_while_the_program_runs(project, monkeypatch):
    import gc

    seen = []
    real_sync_await = render_module._sync_await

    def recording_sync_await(awaitable):
        seen.append(gc.isenabled())
        return real_sync_await(awaitable)

    monkeypatch.setattr(render_module, "_sync_await", recording_sync_await)
    assert gc.isenabled()
    render_module.render_stack(project, "dev")
    assert seen == [False] and gc.isenabled()


def test_pausing_the_collector_restores_its_state_on_error_and_when_already_off():
    import gc

    with pytest.raises(RuntimeError):
        with render_module.cycle_collection_paused():
            assert not gc.isenabled()
            raise RuntimeError("program failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with render_module.cycle_collection_paused():
            pass
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()
