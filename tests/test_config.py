"""Stack config validation: every problem at once, each with its key path."""

from __future__ import annotations

import pytest

from vllm_fleet.config import load_fleet
from vllm_fleet.errors import ConfigError
from vllm_fleet.plan import plan_fleet
from vllm_fleet.render import load_project, stack_config

from .conftest import PROJECT_DIR, base_config, with_model


def problems(config, registry) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        plan_fleet(load_fleet(config, registry))
    return [str(issue) for issue in raised.value.issues]


def test_valid_config_loads(registry):
    fleet = load_fleet(base_config(), registry)
    assert fleet.config.models[0].parallelism.tensor == 16
    assert fleet.models[0].plugins["launcher"].plugin.name == "ray"


def test_tensor_must_be_positive(registry):
    assert problems(with_model(parallelism={"tensor": 0}), registry) == [
        "vllm-fleet:models[0].parallelism.tensor: must be a positive integer, got 0"
    ]


def test_unknown_key_suggests_the_right_one(registry):
    assert problems(with_model(parallelism={"tensr": 2}), registry) == [
        "vllm-fleet:models[0].parallelism: unknown key 'tensr' (did you mean 'tensor'?)"
    ]


def test_unknown_key_without_a_close_match_lists_valid_keys(registry):
    [problem] = problems(base_config(nodePool={"gpusPerNode": 8, "zzz": 1}), registry)
    assert problem.startswith("vllm-fleet:nodePool: unknown key 'zzz'; valid keys: ")
    assert "gpusPerNode" in problem


def test_unknown_top_level_key(registry):
    config = base_config()
    config["nodepool"] = config.pop("nodePool")
    found = problems(config, registry)
    assert "vllm-fleet:nodepool: unknown config key (did you mean 'nodePool'?)" in found[1]
    assert found[0] == "vllm-fleet:nodePool: required key is missing"


def test_every_problem_reported_together(registry):
    config = base_config(namespace="Bad_NS")
    config["models"][0]["parallelism"] = {"tensor": 0, "pipeline": -1}
    config["models"].append({"name": "9bad", "model": "x", "storage": "new-pvc"})
    found = problems(config, registry)
    paths = sorted(problem.split(": ")[0] for problem in found)
    assert paths == [
        "vllm-fleet:models[0].parallelism.pipeline",
        "vllm-fleet:models[0].parallelism.tensor",
        "vllm-fleet:models[1].name",
        "vllm-fleet:models[1].storage.size",
        "vllm-fleet:namespace",
    ]


def test_plugin_settings_errors_have_key_paths(registry):
    found = problems(with_model(storage={"type": "new-pvc", "sise": "1Gi"}), registry)
    assert "vllm-fleet:models[0].storage: unknown key 'sise' (did you mean 'size'?)" in found
    assert "vllm-fleet:models[0].storage.size: required key is missing" in found


def test_unknown_plugin_lists_available(registry):
    assert problems(with_model(launcher="rey"), registry) == [
        "vllm-fleet:models[0].launcher.type: unknown launcher plugin 'rey' (did you mean 'ray'?); "
        "available: native, ray"
    ]


def test_duplicate_model_names(registry):
    config = base_config()
    config["models"].append(dict(config["models"][0]))
    assert problems(config, registry) == [
        "vllm-fleet:models[1].name: duplicate model name 'm' (also models[0])"
    ]


def test_gpus_per_pod_above_node(registry):
    assert problems(with_model(gpusPerPod=16), registry) == [
        "vllm-fleet:models[0].gpusPerPod: 16 GPUs per pod exceeds nodePool.gpusPerNode (8); "
        "a pod can't span nodes, so use at most 8"
    ]


def test_native_needs_even_split(registry):
    config = with_model(parallelism={"tensor": 4, "pipeline": 3}, gpusPerPod=8, launcher="native")
    [problem] = problems(config, registry)
    assert problem.startswith("vllm-fleet:models[0].gpusPerPod: launcher 'native' needs the same GPU count")


def test_plan_errors_of_several_models_reported_together(registry):
    config = with_model(gpusPerPod=16)
    config["models"].append({**config["models"][0], "name": "n", "gpusPerPod": 32})
    assert [p.split(":")[1] for p in problems(config, registry)] == ["models[0].gpusPerPod", "models[1].gpusPerPod"]


def test_read_write_once_claim_rejected_for_multi_node_group(registry):
    config = with_model(storage={"type": "new-pvc", "size": "1Ti", "accessMode": "ReadWriteOnce"})
    [problem] = problems(config, registry)
    assert problem.startswith("vllm-fleet:models[0].storage.accessMode: ReadWriteOnce can't be mounted by the 2 pods")


def test_read_write_once_is_fine_on_one_pod(registry):
    config = with_model(parallelism={"tensor": 2}, storage={"type": "new-pvc", "size": "1Ti", "accessMode": "ReadWriteOnce"})
    assert plan_fleet(load_fleet(config, registry))[0].gpus.pods == 1


@pytest.mark.parametrize(
    "key,flag,reason",
    [
        ("tensor-parallel-size", "tensor-parallel-size", "set `parallelism.tensor` instead"),
        ("pipeline_parallel_size", "pipeline-parallel-size", "set `parallelism.pipeline` instead"),
        ("port", "port", "set the model's `api.port` instead"),
        # vLLM's parser takes any unambiguous prefix: these *are* the platform's flags.
        ("tensor-parallel", "tensor-parallel-size", "set `parallelism.tensor` instead"),
        ("tensorParallel", "tensor-parallel-size", "set `parallelism.tensor` instead"),
        ("--pipeline", "pipeline-parallel-size", "set `parallelism.pipeline` instead"),
        ("distributed", "distributed-executor-backend", "chosen by the launcher"),
        ("no-headless", "headless", "set by the launcher"),
        ("served-model", "served-model-name", "servedModelName"),
    ],
)
def test_reserved_engine_args(registry, key, flag, reason):
    [problem] = problems(with_model(engineArgs={key: 4}), registry)
    assert problem.startswith(f"vllm-fleet:models[0].engineArgs.{key}: --{flag} is managed by vllm-fleet")
    assert reason in problem


@pytest.mark.parametrize(
    "key,config_key",
    [("api-key", "vllm-fleet:apiKey"), ("api-ke", "vllm-fleet:apiKey"), ("api", "vllm-fleet:apiKey"),
     ("hf-token", "vllm-fleet:hfToken"), ("hf_tok", "vllm-fleet:hfToken"), ("hfToken", "vllm-fleet:hfToken")],
)
def test_secret_flags_name_the_config_key_to_use(registry, key, config_key):
    [problem] = problems(with_model(engineArgs={key: "s3cr3t"}), registry)
    assert problem.startswith(f"vllm-fleet:models[0].engineArgs.{key}: --")
    assert "carries a secret" in problem and f"Set {config_key}" in problem
    assert "s3cr3t" not in problem


@pytest.mark.parametrize("key", ["auth-token", "db-password", "client-secret", "aws-credentials", "signing-key"])
def test_any_flag_named_like_a_secret_is_refused(registry, key):
    [problem] = problems(with_model(engineArgs={key: "x"}), registry)
    assert "looks like it carries a secret" in problem


@pytest.mark.parametrize("key", ["max-num-batched-tokens", "tokenizer", "ssl-keyfile", "max-model-len", "hf-overrides"])
def test_ordinary_flags_pass(registry, key):
    assert plan_fleet(load_fleet(with_model(engineArgs={key: "1"}), registry))


def test_bad_quantity(registry):
    [problem] = problems(with_model(sharedMemory="lots"), registry)
    assert problem == (
        "vllm-fleet:models[0].sharedMemory: must be a Kubernetes quantity such as '8', '500m', '64Gi' or '1Ti', got 'lots'"
    )


def test_model_name_must_be_dns_safe(registry):
    [problem] = problems(with_model(name="Llama_405B"), registry)
    assert problem.startswith("vllm-fleet:models[0].name: must be a DNS label")


def test_string_values_from_pulumi_config_set_are_coerced(registry):
    # `pulumi config set --path vllm-fleet:nodePool.gpusPerNode 4` stores the string "4".
    fleet = load_fleet(base_config(nodePool={"gpusPerNode": "4"}), registry)
    assert fleet.config.node_pool.gpus_per_node == 4


def test_stack_values_override_project_defaults(stack_project):
    project = stack_project(test=base_config())
    config, secrets = stack_config(project, "test")
    assert config["vllm-fleet:image"] == "vllm/vllm-openai:v0.33.0"  # from Pulumi.yaml
    override = stack_project(test=base_config(image="registry.local/vllm:pinned"))
    config, _ = stack_config(override, "test")
    assert config["vllm-fleet:image"] == "registry.local/vllm:pinned"
    assert secrets == []


def test_secure_values_are_redacted_and_marked_secret(stack_project, tmp_path):
    project = stack_project(test=base_config())
    stack_file = project.stack_file("test")
    stack_file.write_text(stack_file.read_text() + "  vllm-fleet:apiKey:\n    secure: v1:abcdef==\n")
    config, secrets = stack_config(load_project(project.directory), "test")
    assert config["vllm-fleet:apiKey"] == "[secret]"
    assert secrets == ["vllm-fleet:apiKey"]


def test_plugin_problems_reported_alongside_core_problems(registry):
    found = problems(with_model(name="Bad_Name", storage={"type": "new-pvc"}), registry)
    assert [p.split(": ")[0] for p in found] == ["vllm-fleet:models[0].name", "vllm-fleet:models[0].storage.size"]


def test_readme_two_problem_example_is_one_run(registry):
    # README "A bad config fails before ...": both problems of models[0] in one run.
    config = base_config(nodePool={"gpusPerNode": 8})
    config["models"][0].update(parallelism={"tensr": 16}, gpusPerPod=16)
    assert problems(config, registry) == [
        "vllm-fleet:models[0].gpusPerPod: 16 GPUs per pod exceeds nodePool.gpusPerNode (8); a pod can't span nodes, so use at most 8",
        "vllm-fleet:models[0].parallelism: unknown key 'tensr' (did you mean 'tensor'?)",
    ]
    # The README's sample (generated from stacks/Pulumi.dev.yaml by vllm_fleet/docs_samples.py, kept fresh by
    # tests/test_docs_samples.py) shows the same pair: the typo and the plan error of one model, in one run.
    readme = (PROJECT_DIR / "README.md").read_text()
    assert (
        "  - vllm-fleet:models[0].gpusPerPod: 2 GPUs per pod exceeds nodePool.gpusPerNode (1); a pod can't span "
        "nodes, so use at most 1\n  - vllm-fleet:models[0].parallelism: unknown key 'tensr' (did you mean 'tensor'?)"
    ) in readme


def test_a_bad_model_hides_no_plan_error_of_another(registry):
    config = base_config()
    config["models"][0]["name"] = "Bad_Name"
    config["models"].append({"name": "n", "model": "o/n", "parallelism": {"tensor": 16}, "gpusPerPod": 16,
                             "storage": {"type": "new-pvc", "size": "1Gi"}, "engineArgs": {"tensor-parallel": 2}})
    paths = [p.split(": ")[0] for p in problems(config, registry)]
    assert paths == ["vllm-fleet:models[0].name", "vllm-fleet:models[1].engineArgs.tensor-parallel",
                     "vllm-fleet:models[1].gpusPerPod"]


@pytest.mark.parametrize(
    "field,value",
    [("tensor", 4097), ("pipeline", 4097), ("tensor", 100_000_000)],
)
def test_group_size_is_bounded(registry, field, value):
    [problem] = problems(with_model(parallelism={field: value}), registry)
    assert problem == f"vllm-fleet:models[0].parallelism.{field}: must be less than or equal to 4096, got {value}"


def test_tp_times_pp_is_bounded(registry):
    [problem] = problems(with_model(parallelism={"tensor": 64, "pipeline": 65}), registry)
    assert problem.startswith("vllm-fleet:models[0].parallelism: TP×PP = 4160 GPUs exceeds the 4096")


@pytest.mark.parametrize(
    "toleration,message",
    [
        ({"key": "a", "operator": "Exists", "value": "b"}, "operator Exists takes no value"),
        ({"key": "a", "operator": "Exists", "tolerationSeconds": 5}, "tolerationSeconds applies only to effect NoExecute"),
        ({"operator": "Equal", "value": "b"}, "without a key must use operator Exists"),
        ({"key": "a", "value": "not a label value!"}, "must be a label value"),
        ({"key": "bad/key/x", "operator": "Exists"}, "must be a DNS subdomain"),
    ],
)
def test_tolerations_the_api_server_would_reject(registry, toleration, message):
    [problem] = problems(base_config(nodePool={"gpusPerNode": 8, "tolerations": [toleration]}), registry)
    assert problem.startswith("vllm-fleet:nodePool.tolerations[0]") and message in problem


@pytest.mark.parametrize(
    "labels,message",
    [
        ({"bad key": "x"}, "label key must be a qualified name"),
        ({"-x": "y"}, "label key must be a qualified name"),
        ({"Example.com/x": "y"}, "must be a DNS subdomain"),
        ({"x": "y" * 64}, "must be a label value"),
        ({"x": "-y"}, "must be a label value"),
    ],
)
def test_label_rules(registry, labels, message):
    [problem] = problems(base_config(nodePool={"gpusPerNode": 8, "nodeSelector": labels}), registry)
    assert problem.startswith("vllm-fleet:nodePool.nodeSelector: ") and message in problem


def test_valid_labels_pass(registry):
    labels = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "a": "", "x_y.z": "A-1_b.c"}
    assert load_fleet(base_config(nodePool={"gpusPerNode": 8, "nodeSelector": labels}), registry)


def test_empty_api_peer_is_refused(registry):
    [problem] = problems(base_config(apiAccess={"allowFrom": [{"namespace": "a"}, {}]}), registry)
    assert problem.startswith("vllm-fleet:apiAccess.allowFrom[1]: an empty peer names nobody")


@pytest.mark.parametrize("size", ["0", "0Gi", "0.0", "-1Gi"])
def test_claim_size_must_be_positive(registry, size):
    [problem] = problems(with_model(storage={"type": "new-pvc", "size": size}), registry)
    assert problem.startswith("vllm-fleet:models[0].storage.size: ")


@pytest.mark.parametrize("key,value", [("claimName", "Weights"), ("claimName", "a_b"), ("storageClass", "fast ssd"),
                                       ("storageClass", "x" * 254)])
def test_claim_and_class_names_are_dns_subdomains(registry, key, value):
    [problem] = problems(with_model(storage={"type": "new-pvc", "size": "1Gi", key: value}), registry)
    assert problem.startswith(f"vllm-fleet:models[0].storage.{key}: must be a DNS subdomain name")


# ------------------------------------------- `pulumi up`: values from the CLI


@pytest.fixture
def cli_config():
    """Sets the config as the Pulumi CLI hands it to the program (all text), then clears it."""
    from pulumi.runtime import config as runtime_config

    def set_config(values: dict[str, str], secret_keys=()):
        runtime_config.set_all_config(values, list(secret_keys))

    yield set_config
    from pulumi.runtime import config as runtime_config

    runtime_config.set_all_config({}, [])


def test_cli_values_that_nest_too_deep_name_their_key(cli_config):
    from vllm_fleet.stack_config import read_stack_config

    cli_config({"vllm-fleet:models": "[" * 100 + "]" * 100, "vllm-fleet:namespace": "a"})
    with pytest.raises(ConfigError) as raised:
        read_stack_config()
    assert [str(i) for i in raised.value.issues] == ["vllm-fleet:models: nests more than 64 levels deep"]


def test_cli_values_of_the_wrong_shape_are_config_errors_with_key_paths(cli_config, registry):
    from vllm_fleet.stack_config import read_stack_config

    cli_config({
        "vllm-fleet:namespace": "llm",
        "vllm-fleet:nodePool": '{"gpusPerNode": "NaN"}',
        "vllm-fleet:models": '{"name": "m"}',
        "vllm-fleet:apiKey": "12345",
    }, ["vllm-fleet:apiKey"])
    raw = read_stack_config()
    assert raw["apiKey"].value == "12345"  # a secret stays text, even when it looks like a number
    with pytest.raises(ConfigError) as raised:
        load_fleet(raw, registry)
    assert [str(i).split(": ")[0] for i in raised.value.issues] == [
        "vllm-fleet:models", "vllm-fleet:nodePool.gpusPerNode"
    ]


def test_a_huge_cli_value_is_refused(cli_config):
    from vllm_fleet.stack_config import read_stack_config

    cli_config({"vllm-fleet:namespace": "x" * (3 * 1024 * 1024)})
    with pytest.raises(ConfigError) as raised:
        read_stack_config()
    assert str(raised.value.issues[0]).startswith("vllm-fleet:namespace: is 3145728 characters")
