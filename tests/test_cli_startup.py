"""Each command loads only what it uses: `render` never imports the preview package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vllm_fleet.cli import FAIL_ON_CHOICES
from vllm_fleet.preview import FailOn

PROJECT_DIR = Path(__file__).resolve().parent.parent

_LOADED_AFTER = """
import json, sys
from vllm_fleet.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_after(*argv: str) -> tuple[int, set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _LOADED_AFTER, *argv],
        cwd=PROJECT_DIR, capture_output=True, text=True, check=False,
    )
    report = json.loads(result.stdout.splitlines()[-1])
    return report["code"], set(report["modules"])


def test_render_does_not_import_the_preview_package(tmp_path):
    code, modules = _modules_after("render", "dev", "--out", str(tmp_path / "r"), "-q")
    assert code == 0
    assert "vllm_fleet.render" in modules and "pulumi_kubernetes" in modules
    assert not {m for m in modules if m.startswith("vllm_fleet.preview")}


def test_render_loads_only_the_api_groups_the_stack_uses(tmp_path):
    """dev has no Role, RoleBinding nor PriorityClass: their pulumi-kubernetes modules stay unloaded."""
    code, modules = _modules_after("render", "dev", "--out", str(tmp_path / "r"), "-q")
    assert code == 0
    assert {"pulumi_kubernetes.core.v1", "pulumi_kubernetes.apps.v1", "pulumi_kubernetes.batch.v1"} <= modules
    assert not {m for m in modules if m.startswith(("pulumi_kubernetes.rbac.v1", "pulumi_kubernetes.scheduling.v1"))}


def test_a_bad_stack_name_loads_no_pulumi_program(tmp_path):
    code, modules = _modules_after("render", "no-such-stack", "--out", str(tmp_path / "r"))
    assert code == 2
    assert "components.fleet" not in modules and "vllm_fleet.preview" not in modules


def test_the_cli_offers_exactly_the_fail_on_policies_the_preview_knows():
    assert list(FAIL_ON_CHOICES) == [policy.value for policy in FailOn]


def test_the_console_command_is_run_and_exits_with_mains_code(tmp_path):
    """`run` (main, then an exit that skips the final collection) is what the installed command calls."""
    pyproject = (PROJECT_DIR / "pyproject.toml").read_text()
    assert 'vllm-fleet = "vllm_fleet.cli:run"' in pyproject
    for argv, expected in ((["render", "dev", "--out", str(tmp_path / "r"), "-q"], 0), (["render", "no-such-stack"], 2)):
        result = subprocess.run(
            [sys.executable, "-m", "vllm_fleet.cli", *argv], cwd=PROJECT_DIR, capture_output=True, text=True, check=False
        )
        assert result.returncode == expected, result.stderr
    assert (tmp_path / "r" / "resources.json").is_file()
