"""Stack config validation: every problem at once, each with its key path."""

from __future__ import annotations

import pytest

from components.config import load_fleet
from components.errors import ConfigError
from components.plan import plan_fleet
from components.render import load_project, stack_config

from .conftest import base_config, with_model


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
    "key,reason",
    [
        ("tensor-parallel-size", "set `parallelism.tensor` instead"),
        ("pipeline_parallel_size", "set `parallelism.pipeline` instead"),
        ("port", "set the model's `api.port` instead"),
        ("api-key", "must not appear in a pod spec"),
    ],
)
def test_reserved_engine_args(registry, key, reason):
    [problem] = problems(with_model(engineArgs={key: 4}), registry)
    assert problem.startswith(f"vllm-fleet:models[0].engineArgs.{key}: is managed by vllm-fleet")
    assert reason in problem


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
