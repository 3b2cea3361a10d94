"""engineArgs through vLLM's serve parser without vLLM: the schema snapshots and the flag translator.

The same checks against the installed vLLM (its own parser) are in
tests/real_engine/test_vllm_args_live.py; that suite also regenerates the
snapshots and compares them with the ones shipped here.
"""

from __future__ import annotations

import json
import re
import shlex

import pytest

from vllm_fleet.config import load_fleet
from vllm_fleet.constants import DEFAULT_IMAGE
from vllm_fleet.engine_args import engine_flags, translate
from vllm_fleet.errors import ConfigError
from vllm_fleet.plan import plan_fleet
from vllm_fleet.vllm_args.argv_check import role_argvs
from vllm_fleet.vllm_args.check import checker_for, image_vllm_version
from vllm_fleet.vllm_args.live import ParserError
from vllm_fleet.vllm_args.schema import SNAPSHOT_DIR, load_snapshot, snapshot_versions
from vllm_fleet.vllm_args.snapshot_parser import parse

from .conftest import with_model

V032 = "vllm/vllm-openai:v0.32.0"


def problems(registry, image=None, **engine_args) -> list[str]:
    config = with_model(engineArgs=engine_args, image=image)
    with pytest.raises(ConfigError) as raised:
        plan_fleet(load_fleet(config, registry))
    return [str(issue) for issue in raised.value.issues]


def serve_args(registry, image=None, **engine_args) -> list[str]:
    [plan] = plan_fleet(load_fleet(with_model(engineArgs=engine_args, image=image), registry))
    return list(plan.serve_args[plan.serve_args.index("--port") + 2:])


# --------------------------------------------------- the three kinds of refusal

#: (engineArgs, the one problem line): unknown flags, wrong types or choices, misread value shapes.
REFUSED = [
    # unknown, removed, abbreviated, ambiguous
    ({"totally-bogus-flag": 1}, "engineArgs.totally-bogus-flag: --totally-bogus-flag is not a `vllm serve` flag in vLLM 0.33.0"),
    ({"swap-space": 4}, "engineArgs.swap-space: --swap-space is not a `vllm serve` flag in vLLM 0.33.0"),
    ({"max-modle-len": 4}, "(did you mean 'max-model-len'?)"),
    ({"max-model": 8}, "engineArgs.max-model: --max-model is an abbreviation of --max-model-len; write the full name"),
    ({"enable": True}, "engineArgs.enable: --enable is ambiguous in vLLM 0.33.0's parser: it could be --enable-"),
    # wrong type or choice: vLLM's parser's own message
    ({"dtype": "float64"}, "engineArgs.dtype: vLLM 0.33.0's parser refuses --dtype float64: argument --dtype: invalid choice: 'float64'"),
    ({"max-num-seqs": "many"}, "engineArgs.max-num-seqs: vLLM 0.33.0's parser refuses --max-num-seqs many: argument --max-num-seqs: invalid int value: 'many'"),
    ({"max-model-len": "lots"}, "invalid human_readable_int_or_auto value: 'lots'"),
    ({"gpu-memory-utilization": "most"}, "--gpu-memory-utilization most: argument --gpu-memory-utilization/--device-memory-utilization: invalid float value: 'most'"),
    ({"allowed-origins": "{not json"}, "engineArgs.allowed-origins: vLLM 0.33.0's parser refuses --allowed-origins {not json"),
    # value shapes vLLM would misread
    ({"max-num-seqs": [1, 2]}, "engineArgs.max-num-seqs: --max-num-seqs takes one value (an integer), not a list"),
    ({"max-num-seqs": True}, "engineArgs.max-num-seqs: --max-num-seqs takes an integer, not true"),
    ({"dtype": {"a": 1}}, "engineArgs.dtype: --dtype takes one of auto, bfloat16"),
    ({"trust-remote-code": "yes"}, "engineArgs.trust-remote-code: --trust-remote-code is a switch: write true or false, got 'yes'"),
    ({"trust-remote-code": 1}, "--trust-remote-code is a switch: write true or false, got 1"),
    ({"speculative-config": {"numSpeculativeTokens": 3, "method": "ngram"}},
     "engineArgs.speculative-config.numSpeculativeTokens: vLLM's SpeculativeConfig calls it `num_speculative_tokens`: its JSON keys are snake_case"),
    ({"compilation-config": {"level": 3}},
     "engineArgs.compilation-config.level: vLLM 0.33.0's CompilationConfig has no `level`: it was renamed `mode`"),
    ({"compilation-config": {"pass_config": {"fuseNorm": True}}},
     "engineArgs.compilation-config.pass_config.fuseNorm: vLLM 0.33.0's PassConfig has no key `fuseNorm`"),
    ({"kv-transfer-config": {"kv_connector": "X", "kv-role": "kv_both"}}, "engineArgs.kv-transfer-config.kv-role: vLLM's KVTransferConfig calls it `kv_role`"),
    ({"help": True}, "engineArgs.help: --help is not a serving option (it prints and exits)"),
]


@pytest.mark.parametrize("engine_args,expected", REFUSED, ids=[json.dumps(case[0]) for case in REFUSED])
def test_refused_with_the_engine_args_key_path(registry, engine_args, expected):
    [problem] = problems(registry, **engine_args)
    assert problem.startswith("vllm-fleet:models[0].engineArgs") and expected in problem, problem


def test_every_bad_key_is_reported_at_once(registry):
    found = problems(registry, **{"swap-space": 4, "dtype": "float64", "max-num-seqs": [1, 2], "max-model-len": 4096})
    assert sorted(line.split(":")[1] for line in found) == [
        "models[0].engineArgs.dtype", "models[0].engineArgs.max-num-seqs", "models[0].engineArgs.swap-space",
    ]


def test_platform_and_secret_flags_keep_their_own_message(registry):
    """engine_args.py's reserved/secret refusals come first; the parser check adds no second line."""
    [problem] = problems(registry, **{"tensor-parallel": 2})
    assert "--tensor-parallel-size is managed by vllm-fleet" in problem
    [problem] = problems(registry, **{"hf-token": "x"})
    assert "carries a secret" in problem


# --------------------------------------------------- ordinary value shapes


@pytest.mark.parametrize(
    "engine_args,argv",
    [
        # nargs="+": separate words; an append flag: repeated; a JSON list flag: JSON
        ({"ignore-patterns": ["*.pt", "original/*"]}, ["--ignore-patterns", "*.pt", "original/*"]),
        ({"ignore-patterns": "*.pt"}, ["--ignore-patterns", "*.pt"]),
        ({"middleware": ["a.Mw", "b.Mw"]}, ["--middleware", "a.Mw", "--middleware", "b.Mw"]),
        ({"allowed-headers": ["X-A", "X-B"]}, ["--allowed-headers", '["X-A","X-B"]']),
        # a boolean pair: false is its negative form
        ({"enable-prefix-caching": False}, ["--no-enable-prefix-caching"]),
        ({"enable-prefix-caching": "false"}, ["--no-enable-prefix-caching"]),
        ({"enable-prefix-caching": "True"}, ["--enable-prefix-caching"]),
        ({"no-enable-prefix-caching": True}, ["--no-enable-prefix-caching"]),
        # a switch without a negative form: false is its default, so nothing
        ({"disable-log-stats": False}, []),
        ({"disable-log-stats": "true"}, ["--disable-log-stats"]),
        # JSON configs with their snake_case keys
        ({"speculative-config": {"num_speculative_tokens": 3, "method": "ngram"}},
         ["--speculative-config", '{"method":"ngram","num_speculative_tokens":3}']),
        ({"compilation-config": {"mode": 3, "pass_config": {"fuse_norm_quant": True}}},
         ["--compilation-config", '{"mode":3,"pass_config":{"fuse_norm_quant":true}}']),
        ({"max-model-len": "32k", "gpu-memory-utilization": 0.9},
         ["--gpu-memory-utilization", "0.9", "--max-model-len", "32k"]),
        ({"maxNumSeqs": 64.0}, ["--max-num-seqs", "64"]),
    ],
)
def test_value_shapes_become_what_the_parser_reads(registry, engine_args, argv):
    assert serve_args(registry, **engine_args) == argv


def test_boolean_pairs_of_each_release():
    """0.33 pairs --enable-x with --disable-x; 0.32 has only --no-x. false renders in a form both read."""
    old, new = load_snapshot("0.32.0"), load_snapshot("0.33.0")
    assert translate("enable-chunked-prefill", False, old)[0] == ["--no-enable-chunked-prefill"]
    assert translate("enable-chunked-prefill", False, new)[0] == ["--no-enable-chunked-prefill"]
    assert translate("disable-chunked-prefill", True, new)[0] == ["--disable-chunked-prefill"]
    assert parse(new, ["m", "--disable-chunked-prefill"]).enable_chunked_prefill is False
    assert parse(new, ["m", "--enable-chunked-prefill"]).enable_chunked_prefill is True
    [(_, why)] = translate("disable-chunked-prefill", True, old)[1]
    assert why.startswith("--disable-chunked-prefill is not a `vllm serve` flag in vLLM 0.32.0")


def test_a_switch_on_by_default_without_a_negative_form_refuses_false():
    schema = load_snapshot("0.33.0")
    [option] = [o for o in schema.options if o.action == "store_true"][:1]
    on_by_default = type(option)(**{**option.__dict__, "default": True})
    from vllm_fleet.engine_args import _switch

    assert _switch(option.flags[0], on_by_default, False) == (
        [], f"{option.flags[0]} has no negative form in vLLM's parser; leave the key out to keep its default"
    )


# --------------------------------------------------- the snapshot parser


def test_snapshot_parser_reads_like_vllms():
    schema = load_snapshot("0.33.0")
    args = parse(schema, ["m", "--max-model-len", "32k", "--max-num-batched-tokens", "2K", "--moe-backend", "Flashinfer-Cutlass"])
    assert (args.model_tag, args.max_model_len, args.max_num_batched_tokens, args.moe_backend) == ("m", 32000, 2048, "flashinfer_cutlass")
    assert parse(schema, ["m", "--max-model-len", "auto"]).max_model_len == -1
    assert parse(schema, ["m", "--speculative-config", "None"]).speculative_config is None
    for argv, message in [
        (["m", "--max-num-batched-tokens", "2.5K"], "Decimals are not allowed"),
        (["m", "--bogus"], "unrecognized arguments: --bogus"),
        (["m", "--enable"], "ambiguous option: --enable could match"),
        (["m", "--kv-cache-dtype"], "expected one argument"),
        (["m", "n"], "unrecognized arguments: n"),
    ]:
        with pytest.raises(ParserError, match=re.escape(message)):
            parse(schema, argv)


# --------------------------------------------------- versions


def test_snapshots_are_stamped_and_cover_the_pinned_image():
    assert snapshot_versions() == ["0.32.0", "0.33.0"]
    for version in snapshot_versions():
        data = json.loads((SNAPSHOT_DIR / f"vllm-{version}.json").read_text())
        assert data["vllm_version"] == version and len(data["options"]) > 300
    checker = checker_for(DEFAULT_IMAGE)
    assert image_vllm_version(DEFAULT_IMAGE) == "0.33.0"
    assert (checker.schema.vllm_version, checker.mismatch, checker.uses_installed_vllm) == ("0.33.0", None, False)


@pytest.mark.parametrize(
    "image,version",
    [("vllm/vllm-openai:v0.33.0", "0.33.0"), ("registry.local:5000/vllm:0.32.0-cu128", "0.32.0"),
     ("vllm/vllm-openai:latest", None), ("vllm/vllm-openai", None), ("vllm/vllm-openai@sha256:" + "a" * 64, None)],
)
def test_image_version(image, version):
    assert image_vllm_version(image) == version


def test_the_image_version_picks_the_arguments(registry):
    """A flag only 0.33 has is refused for a 0.32 image, and the key named is that model's."""
    assert serve_args(registry, **{"disable-chunked-prefill": True}) == ["--disable-chunked-prefill"]
    [problem] = problems(registry, image=V032, **{"disable-chunked-prefill": True})
    assert problem.startswith("vllm-fleet:models[0].engineArgs.disable-chunked-prefill: --disable-chunked-prefill is not a `vllm serve` flag in vLLM 0.32.0")


@pytest.mark.parametrize(
    "image,note",
    [
        ("vllm/vllm-openai:v0.30.0", "models[0].image: vllm/vllm-openai:v0.30.0 runs vLLM 0.30.0; engineArgs were checked against the snapshot of vLLM 0.32.0's arguments"),
        ("vllm/vllm-openai:nightly", "models[0].image: vllm/vllm-openai:nightly names no vLLM version in its tag; engineArgs were checked against the snapshot of vLLM 0.33.0's"),
    ],
)
def test_an_image_without_a_snapshot_says_so(registry, image, note):
    [plan] = plan_fleet(load_fleet(with_model(image=image), registry))
    assert any(line.startswith(note) for line in plan.notes), plan.notes
    assert "scripts/vllm_arg_schema.py" in next(line for line in plan.notes if line.startswith("models[0].image"))


def test_the_stack_image_key_is_named_when_the_model_sets_none(registry):
    from .conftest import base_config

    [plan] = plan_fleet(load_fleet(base_config(image="vllm/vllm-openai:v0.31.0"), registry))
    assert any(line.startswith("image: vllm/vllm-openai:v0.31.0 runs vLLM 0.31.0;") for line in plan.notes)


# --------------------------------------------------- every role's argv


def _script_serve_args(script: str) -> list[str]:
    """The `serve_args=( ... )` array of a rendered script, as bash reads it."""
    lexer = shlex.shlex(script.split("serve_args=(", 1)[1], posix=True, punctuation_chars="()")
    lexer.whitespace_split = True
    return list(iter(lexer.get_token, ")"))


def _script_tail(script: str) -> list[str]:
    """The flags a script passes after `serve "${serve_args[@]}"` (continuation lines joined)."""
    joined = script.replace("\\\n", " ")
    [line] = [line for line in joined.splitlines() if 'serve "${serve_args[@]}"' in line and "exec" in line]
    return re.findall(r"(?<!\S)--[a-z-]+", line.split('serve "${serve_args[@]}"', 1)[1])


@pytest.mark.parametrize("launcher,tensor", [("native", 16), ("ray", 16), ("ray", 8)])
def test_role_argvs_are_what_the_scripts_run(registry, launcher, tensor):
    """The argv checked is the one each role's script runs: its serve_args array, then the launcher's own flags."""
    config = with_model(launcher={"type": launcher}, parallelism={"tensor": tensor}, engineArgs={"max-model-len": 4096})
    [plan] = plan_fleet(load_fleet(config, registry))
    argvs, scripts = role_argvs(plan), plan.entrypoints.scripts
    assert set(argvs) == ({"head", "worker"} if launcher == "native" else {"head"})
    for role, argv in argvs.items():
        script = scripts[f"{role}.sh"]
        array = _script_serve_args(script)
        assert argv[: len(array)] == array, role
        tail = [word for word in argv[len(array):] if word.startswith("--")]
        assert sorted(tail) == sorted(_script_tail(script) if launcher == "native" else []), role
        checker_for(plan.image).parse(argv)


def test_shipped_stacks_pass_the_parser(registry, project):
    from vllm_fleet.render import stack_config
    from vllm_fleet.stack_config import SecretValue

    from .test_plan import _json_or_text

    stacks = project.stacks()
    assert set(stacks) >= {"dev", "staging", "prod"}
    for name in stacks:
        config, _ = stack_config(project, name)
        raw = {key.split(":", 1)[1]: _json_or_text(value) for key, value in config.items() if key.startswith("vllm-fleet:")}
        raw = {key: SecretValue(value) if value == "[secret]" else value for key, value in raw.items()}
        for plan in plan_fleet(load_fleet(raw, registry)):
            checker = checker_for(plan.image)
            assert checker.mismatch is None
            for argv in role_argvs(plan).values():
                checker.parse(argv)
            assert engine_flags(plan.config.engine_args, checker.schema) == list(plan.serve_args[plan.serve_args.index("--port") + 2:])


@pytest.fixture
def installed_vllm(monkeypatch):
    """Pretend a vLLM is installed: its version, and what building its parser does."""
    from vllm_fleet.vllm_args import check, live

    def install(version: str, schema_or_error):
        def live_schema():
            if isinstance(schema_or_error, Exception):
                raise schema_or_error
            return schema_or_error

        monkeypatch.setattr(live, "installed_version", lambda: version)
        monkeypatch.setattr(live, "live_schema", live_schema)
        check.checker_for.cache_clear()
        check._installed_parser_problem.cache_clear()

    yield install
    monkeypatch.undo()
    check.checker_for.cache_clear()
    check._installed_parser_problem.cache_clear()


def test_the_installed_vllm_of_the_images_version_is_used(installed_vllm):
    stand_in = load_snapshot("0.32.0")
    installed_vllm("0.31.0", stand_in)
    checker = checker_for("vllm/vllm-openai:v0.31.0")
    assert (checker.schema, checker.uses_installed_vllm, checker.mismatch) == (stand_in, True, None)
    # another version with a snapshot: the snapshot, vLLM not consulted
    assert checker_for(DEFAULT_IMAGE).uses_installed_vllm is False
    # a version with neither: the installed vLLM stands in, and the note says so
    other = checker_for("vllm/vllm-openai:v0.29.0")
    assert other.uses_installed_vllm and other.mismatch.startswith(
        "vllm/vllm-openai:v0.29.0 runs vLLM 0.29.0; engineArgs were checked against the installed vLLM 0.31.0's arguments"
    )


def test_a_broken_vllm_install_falls_back_to_the_snapshots(installed_vllm):
    installed_vllm("0.32.0", ModuleNotFoundError("No module named 'orjson'"))
    checker = checker_for(V032)
    assert (checker.schema.vllm_version, checker.uses_installed_vllm, checker.mismatch) == ("0.32.0", False, None)
    other = checker_for("vllm/vllm-openai:v0.31.5")
    assert not other.uses_installed_vllm and other.schema.vllm_version == "0.32.0"
    assert "the installed vLLM did not load its parser (ModuleNotFoundError: No module named 'orjson')" in other.mismatch
