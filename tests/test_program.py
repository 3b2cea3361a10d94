"""The real program under Pulumi's mock monitor, for every stack under stacks/."""

from __future__ import annotations

import json
import shlex
import subprocess

import kubernetes_validate
import pytest
import yaml

from vllm_fleet.cli import main as cli_main
from vllm_fleet.errors import ConfigError
from vllm_fleet.render import render_stack, write_render

from .conftest import PROJECT_DIR, STACKS, objects_of, tool, with_model
from .dataplane_support import pod_templates
from .monitoring_support import K8S_VERSION


def test_every_environment_has_a_stack():
    assert {"dev", "staging", "prod"} <= set(STACKS)


@pytest.fixture(scope="module", params=STACKS)
def rendered(request):
    from vllm_fleet.render import load_project

    return render_stack(load_project(PROJECT_DIR), request.param)


def test_objects_pass_strict_kubernetes_validation(rendered):
    core = [obj for obj in rendered.objects() if "." not in obj["apiVersion"].split("/")[0] or obj["apiVersion"].startswith(("apps/", "batch/", "policy/", "networking.k8s.io/"))]
    assert core, "a stack renders core objects"
    for obj in core:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def _gpus(template: dict) -> int:
    limits = template["spec"]["containers"][0]["resources"]["limits"]
    # A whole GPU or a MIG slice (nvidia.com/mig-1g.10gb): each is one device of TP×PP.
    return next(v for k, v in limits.items() if k.endswith("/gpu") or k.startswith("nvidia.com/mig-"))


def test_gpus_requested_equal_groups_times_tp_times_pp(rendered):
    """What the workload objects request is the plan's GPUs: groups × TP×PP (at the fewest groups when autoscaled)."""
    stateful_sets = objects_of(rendered, "StatefulSet")
    leader_worker_sets = objects_of(rendered, "LeaderWorkerSet")
    for name, summary in rendered.outputs["models"].items():
        requested = sum(
            _gpus(sts["spec"]["template"]) * sts["spec"]["replicas"]
            for sts in (stateful_sets.get(f"{name}-{role}") for role in ("head", "worker"))
            if sts is not None
        )
        lws = leader_worker_sets.get(f"{name}-group")
        if lws is not None:
            template = lws["spec"]["leaderWorkerTemplate"]
            leader = template.get("leaderTemplate", template["workerTemplate"])
            requested += lws["spec"]["replicas"] * (_gpus(leader) + (template["size"] - 1) * _gpus(template["workerTemplate"]))
        assert requested == summary["totalGpus"] == summary["replicas"] * summary["tensor"] * summary["pipeline"], name
        assert summary["minReplicas"] == summary["replicas"] <= summary["maxReplicas"], name


def test_no_pod_asks_for_more_than_a_node(rendered, project):
    from vllm_fleet.render import stack_config

    config, _ = stack_config(project, rendered.stack)
    default_pool = json.loads(config["vllm-fleet:nodePool"])
    models = {m["name"]: m for m in json.loads(config["vllm-fleet:models"])}
    templates = pod_templates(rendered)
    assert templates
    for name, template in templates:
        model = models[template["metadata"]["labels"]["app.kubernetes.io/instance"]]
        pool = model.get("nodePool", default_pool)
        limits = template["spec"]["containers"][0]["resources"]["limits"]
        assert limits[pool.get("gpuResource", "nvidia.com/gpu")] <= pool["gpusPerNode"], name


def test_pods_mount_weights_read_only_and_shm_in_memory(rendered):
    templates = pod_templates(rendered)
    assert templates
    for name, template in templates:
        pod = template["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
        assert mounts["weights"]["readOnly"] is True, name
        assert volumes["dshm"]["emptyDir"]["medium"] == "Memory", name
        assert volumes["dshm"]["emptyDir"]["sizeLimit"], name
        assert mounts["dshm"]["mountPath"] == "/dev/shm", name


def test_probes_are_sized_for_loading_a_large_model(rendered):
    templates = pod_templates(rendered)
    assert templates
    for name, template in templates:
        container = template["spec"]["containers"][0]
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 900, name
        assert container["readinessProbe"] and container["livenessProbe"], name
    owners = [*objects_of(rendered, "StatefulSet").values(), *objects_of(rendered, "LeaderWorkerSet").values()]
    for owner in owners:
        # `pulumi up` waits as long as the pods may take to start.
        timeout = int(owner["metadata"]["annotations"]["pulumi.com/timeoutSeconds"])
        for name, template in pod_templates([owner]):
            startup = template["spec"]["containers"][0]["startupProbe"]
            assert timeout > startup["periodSeconds"] * startup["failureThreshold"], name


def test_pulumi_up_awaits_a_leaderworkerset_until_its_groups_are_available(rendered):
    """pulumi-kubernetes treats a custom resource as ready once created: the LWS names what to wait for."""
    groups = objects_of(rendered, "LeaderWorkerSet").values()
    assert groups or rendered.stack != "prod"  # prod runs llama-405b on one
    for lws in groups:
        assert lws["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Available"


def test_ready_follows_health_within_two_seconds_of_kubelet_time(rendered):
    """The kubelet runs readiness only after startup passes: one period of each is its share of Ready's delay."""
    templates = pod_templates(rendered)
    assert templates
    for name, template in templates:
        container = template["spec"]["containers"][0]
        delay = container["startupProbe"]["periodSeconds"] + container["readinessProbe"]["periodSeconds"]
        assert delay <= 2, (name, delay)
        assert container["readinessProbe"]["failureThreshold"] * container["readinessProbe"]["periodSeconds"] <= 5


def test_recommended_labels(rendered):
    for obj in rendered.objects():
        if obj["kind"] == "Namespace":
            continue
        labels = obj["metadata"]["labels"]
        for key in ("name", "instance", "component", "part-of", "managed-by", "version"):
            assert f"app.kubernetes.io/{key}" in labels, (obj["kind"], obj["metadata"]["name"], key)


def test_weights_claims_are_protected_by_default(rendered, project):
    from vllm_fleet.render import stack_config

    config, _ = stack_config(project, rendered.stack)
    opted_out = {
        m["name"] for m in json.loads(config["vllm-fleet:models"]) if m["storage"].get("protect") is False
    }
    claims = [r for r in rendered.resources if r.type == "kubernetes:core/v1:PersistentVolumeClaim"]
    for claim in claims:
        model = claim.inputs["metadata"]["labels"]["app.kubernetes.io/instance"]
        assert claim.protect is (model not in opted_out)
        assert claim.retain_on_delete is (model not in opted_out)


def test_api_service_selects_only_the_head(rendered):
    for name in rendered.outputs["models"]:
        service = objects_of(rendered, "Service")[name]
        assert service["spec"]["selector"]["app.kubernetes.io/component"] == "head"
        group = objects_of(rendered, "Service")[f"{name}-group"]
        assert group["spec"]["clusterIP"] == "None" and group["spec"]["publishNotReadyAddresses"] is True


def test_components_parent_their_children(rendered):
    by_urn = {r.urn: r for r in rendered.resources}
    for resource in rendered.resources:
        if resource.type.startswith("kubernetes:") and resource.type != "kubernetes:core/v1:Namespace":
            assert by_urn[resource.parent].type.startswith("vllm-fleet:index:"), resource.urn


def _scripts(rendered):
    for cm in objects_of(rendered, "ConfigMap").values():
        for key, text in cm.get("data", {}).items():
            if key.endswith(".sh"):
                yield f"{cm['metadata']['name']}/{key}", text


def test_entrypoints_pass_bash_n_and_shellcheck(rendered, tmp_path):
    scripts = dict(_scripts(rendered))
    assert scripts
    for name, text in scripts.items():
        path = tmp_path / name.replace("/", "__")
        path.write_text(text)
        assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text, name
        subprocess.run(["bash", "-n", str(path)], check=True)
        result = subprocess.run([tool("shellcheck"), "-s", "bash", "-S", "style", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}:\n{result.stdout}"


def _serve_args(script: str) -> list[str]:
    [line] = [line for line in script.splitlines() if line.startswith("serve_args=(")]
    return shlex.split(line[len("serve_args=("):-1])


def test_ray_groups_wait_for_exactly_the_planned_gpus(rendered):
    groups = {name: s for name, s in rendered.outputs["models"].items() if s["launcher"] == "ray"}
    for name, summary in groups.items():
        head = objects_of(rendered, "ConfigMap")[f"{name}-entrypoints"]["data"]["head.sh"]
        assert f"readonly VF_EXPECTED_GPUS={summary['tensor'] * summary['pipeline']}\n" in head
        assert f"readonly VF_EXPECTED_NODES={summary['pods']}\n" in head
        args = _serve_args(head)
        assert args[args.index("--tensor-parallel-size") + 1] == str(summary["tensor"])
        assert args[args.index("--pipeline-parallel-size") + 1] == str(summary["pipeline"])
        assert args[-2:] == ["--distributed-executor-backend", "ray"]


def test_single_pod_models_have_no_workers_and_no_ray(rendered):
    for name, summary in rendered.outputs["models"].items():
        if summary["pods"] == 1:
            assert f"{name}-worker" not in objects_of(rendered, "StatefulSet")
            script = objects_of(rendered, "ConfigMap")[f"{name}-entrypoints"]["data"]["head.sh"]
            assert "ray" not in script.split("serve_args=(")[0] and "ray start" not in script


def test_write_render_writes_every_object(rendered, tmp_path):
    out = write_render(rendered, tmp_path / "out")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml"))
    assert len(files) == len(rendered.objects())
    index = json.loads((out / "resources.json").read_text())
    assert {entry["file"] for entry in index["resources"] if entry["file"]} == set(files)
    for file in files:
        assert yaml.safe_load((out / file).read_text())["metadata"]["name"]


# ------------------------------------------------------------------ bad input


def test_bad_config_registers_nothing(render_config, monkeypatch):
    from vllm_fleet import render as render_module

    registered = []
    original = render_module._RecordingMonitor.RegisterResource

    def spy(self, request):
        registered.append(request.type)
        return original(self, request)

    monkeypatch.setattr(render_module._RecordingMonitor, "RegisterResource", spy)
    with pytest.raises(ConfigError):
        render_config(with_model(gpusPerPod=16))
    assert [t for t in registered if t != "pulumi:pulumi:Stack"] == []


def test_cli_bad_config_exits_non_zero_and_writes_nothing(stack_project, tmp_path, capsys):
    project = stack_project(good=with_model(), bad=with_model(parallelism={"tensor": 0}))
    out = tmp_path / "rendered"
    code = cli_main(["--project-dir", str(project.directory), "render", "--all-stacks", "--out", str(out)])
    assert code == 2
    assert "vllm-fleet:models[0].parallelism.tensor: must be a positive integer, got 0" in capsys.readouterr().err
    assert not out.exists(), "one bad stack must write nothing, not even the good one"


def test_cli_refuses_to_overwrite_a_folder_that_is_not_a_render(stack_project, tmp_path, capsys):
    project = stack_project(good=with_model())
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code = cli_main(["--project-dir", str(project.directory), "render", "good", "--out", str(out)])
    assert code == 2 and (out / "notes.txt").read_text() == "keep me"


def test_cli_prints_plan_table(stack_project, tmp_path, capsys):
    project = stack_project(good=with_model(parallelism={"tensor": 4, "pipeline": 3}))
    assert cli_main(["--project-dir", str(project.directory), "render", "good", "--out", str(tmp_path / "o")]) == 0
    table = capsys.readouterr().out
    assert "m  " in table and "4×3" in table and "4 + 1×8" in table and "12" in table
    assert "http://m.llm-test.svc.cluster.local:8000/v1" in table


def test_rendering_twice_in_one_process_is_identical(render_config):
    first = render_config(with_model())
    second = render_config(with_model())
    # Registration order is async; the content per URN must not change.
    assert {r.urn: r.inputs for r in first.resources} == {r.urn: r.inputs for r in second.resources}


def test_dev_stack_renders_from_the_readme_command(tmp_path):
    """The README's first command, as a user runs it."""
    vllm_fleet = tool("vllm-fleet")
    result = subprocess.run(
        [vllm_fleet, "render", "dev", "--out", str(tmp_path / "dev")],
        cwd=PROJECT_DIR, capture_output=True, text=True, check=True,
    )
    assert "qwen-small" in result.stdout and (tmp_path / "dev" / "resources.json").is_file()
