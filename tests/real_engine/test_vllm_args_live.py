"""engineArgs through the installed vLLM's own serve parser (vLLM's CPU build), and the snapshots regenerated.

Runs under .venv-vllm (`make test`'s second step). The snapshot path that
runs without vLLM is tests/test_vllm_args.py; here the same cases go through
vLLM itself, and the snapshot parser must refuse exactly the keys vLLM does.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import PROJECT_DIR, with_model
from tests.test_vllm_args import REFUSED
from vllm_fleet.config import load_fleet
from vllm_fleet.errors import ConfigError
from vllm_fleet.plan import plan_fleet, plan_model
from vllm_fleet.vllm_args import live
from vllm_fleet.vllm_args.argv_check import serve_arg_findings
from vllm_fleet.vllm_args.check import ArgChecker, checker_for
from vllm_fleet.vllm_args.schema import load_snapshot

from .installed_vllm import IMAGE, INSTALLED

SCRIPT = PROJECT_DIR / "scripts" / "vllm_arg_schema.py"

#: Ordinary shapes both parsers must accept (the refused ones are tests/test_vllm_args.py's REFUSED).
ACCEPTED = [
    {"max-model-len": "32k", "gpu-memory-utilization": 0.9, "enable-chunked-prefill": True},
    {"enable-prefix-caching": False, "disable-log-stats": False},
    {"enable-prefix-caching": "true", "disable-log-stats": "true"},
    {"ignore-patterns": ["*.pt", "original/*"], "middleware": ["a.Mw", "b.Mw"], "allowed-headers": ["X-A"]},
    {"speculative-config": {"num_speculative_tokens": 3, "method": "ngram", "prompt_lookup_max": 4}},
    {"compilation-config": {"mode": 3, "pass_config": {"fuse_norm_quant": True}}},
    {"kv-cache-dtype": "fp8", "dtype": "bfloat16", "max-num-seqs": 64},
]


def test_installed_vllm_is_used_for_its_own_version():
    assert INSTALLED is not None, "tests/real_engine runs with .venv-vllm's python, which has vLLM"
    checker = checker_for(IMAGE)
    assert checker.uses_installed_vllm and checker.mismatch is None
    assert checker.schema.vllm_version == INSTALLED


def _findings(registry, engine_args, checker: ArgChecker | None) -> list[tuple, str]:
    fleet = load_fleet(with_model(engineArgs=engine_args, image=IMAGE), registry)
    found = [(("engineArgs", issue.path.split("engineArgs.", 1)[1]) if "engineArgs." in issue.path else (), issue.message)
             for issue in fleet.issues]
    return found + serve_arg_findings(plan_model(fleet.models[0], fleet), checker)


@pytest.mark.parametrize("engine_args", [case[0] for case in REFUSED] + ACCEPTED, ids=str)
def test_snapshot_refuses_exactly_what_vllm_refuses(registry, engine_args):
    """The installed vLLM's parser and the snapshot of it refuse the same keys (or none)."""
    snapshot = ArgChecker(load_snapshot(INSTALLED), uses_installed_vllm=False)
    by_vllm = _findings(registry, engine_args, checker_for(IMAGE))
    by_snapshot = _findings(registry, engine_args, snapshot)
    assert [path for path, _ in by_vllm] == [path for path, _ in by_snapshot], (by_vllm, by_snapshot)
    assert bool(by_vllm) == (engine_args not in ACCEPTED), by_vllm


@pytest.mark.parametrize(
    "engine_args,expected",
    [
        ({"totally-bogus-flag": 1}, f"engineArgs.totally-bogus-flag: --totally-bogus-flag is not a `vllm serve` flag in vLLM {INSTALLED}"),
        ({"dtype": "float64"}, f"engineArgs.dtype: vLLM {INSTALLED}'s parser refuses --dtype float64: argument --dtype: invalid choice: 'float64'"),
        ({"max-num-seqs": "many"}, "argument --max-num-seqs: invalid int value: 'many'"),
        ({"compilation-config": {"mode": "fastest"}}, "engineArgs.compilation-config: vLLM"),
        ({"speculative-config": {"numSpeculativeTokens": 3}}, "engineArgs.speculative-config.numSpeculativeTokens: vLLM's SpeculativeConfig calls it `num_speculative_tokens`"),
        ({"allowed-headers": "X-A"}, "engineArgs.allowed-headers: vLLM"),
    ],
)
def test_vllm_refuses_with_the_key_path(registry, engine_args, expected):
    """vLLM's own parser (and, past the snapshot's reach, pydantic's validation of a config's values)."""
    with pytest.raises(ConfigError) as raised:
        plan_fleet(load_fleet(with_model(engineArgs=engine_args, image=IMAGE), registry))
    [problem] = [str(issue) for issue in raised.value.issues]
    assert problem.startswith("vllm-fleet:models[0].engineArgs") and expected in problem, problem


def test_vllms_engine_args_read_the_translated_flags(registry):
    """What the translator writes is what vLLM's EngineArgs ends up with."""
    [plan] = plan_fleet(load_fleet(with_model(image=IMAGE, engineArgs={
        "enable-prefix-caching": False, "ignore-patterns": ["*.pt", "x/*"], "max-model-len": "32k",
        "speculative-config": {"num_speculative_tokens": 3, "method": "ngram"},
    }), registry))
    args = live.parse(list(plan.serve_args))
    assert args.enable_prefix_caching is False
    assert args.ignore_patterns == ["*.pt", "x/*"]
    assert args.max_model_len == 32000
    assert args.speculative_config == {"num_speculative_tokens": 3, "method": "ngram"}
    assert args.tensor_parallel_size == plan.gpus.tensor == 16


@pytest.mark.parametrize("overlay", [[], ["--overlay", "0.33.0"]], ids=["installed", "release-0.33.0"])
def test_snapshots_match_vllm(overlay):
    """CI regenerates each shipped snapshot from vLLM and compares (the 0.33.0 one from its release wheel)."""
    result = subprocess.run([sys.executable, str(SCRIPT), "--check", *overlay], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "matches vLLM" in result.stdout
