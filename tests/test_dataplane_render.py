"""Every stack (and a stack that uses every data-plane plugin) renders objects the cluster accepts.

Core kinds are checked with kubernetes-validate in strict mode; custom resources
with ../shared/tools/validate_crs.py against the upstream CRDs when that folder
exists (it does in CI, not in a plain clone); scripts with bash -n and shellcheck.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import kubernetes_validate
import pytest

from vllm_fleet.cli import plan_table
from vllm_fleet.render import load_project, render_stack, write_render
from .dataplane_support import ALLUXIO, PROJECT, SRIOV, WHEREABOUTS, config, model, pod_templates, render, secret
from .monitoring_support import K8S_VERSION
from .test_caches import JINDO, JUICEFS
from .test_networks import RDMA_FABRICS

CORE_GROUPS = ("v1", "apps/v1", "batch/v1")
STACKS = load_project(PROJECT).stacks()


def _every_plugin() -> dict:
    """One stack that uses every built-in source, cache and fabric."""
    models = [
        model(name="hf", storage={"type": "huggingface", "size": "100Gi"}, cache=ALLUXIO, network=SRIOV),
        model(name="s3", storage={"type": "s3", "url": "s3://bucket-a/m", "credentialsSecret": "s3c"}, cache=JINDO,
              network=RDMA_FABRICS["host-device"]),
        model(name="jfs", cache=JUICEFS, network=RDMA_FABRICS["macvlan"]),
        model(name="ib", network=RDMA_FABRICS["ipoib"], storage={"type": "existing-pvc", "claimName": "w"}),
        model(name="shared", network=RDMA_FABRICS["rdma-shared"]),
        model(name="tcp", network={"type": "macvlan", "master": "ens1", "ipam": WHEREABOUTS},
              storage={"type": "s3", "url": "s3://bucket-b/t", "size": "9Gi"}),
    ]
    return config(*models, hfToken={"secure": "v1:x"}, transport={"verify": True})


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    project = load_project(PROJECT)
    result = {stack: render_stack(project, stack) for stack in STACKS}
    result["every-plugin"] = render(tmp_path_factory.mktemp("every"), _every_plugin(), stack="every-plugin")
    return result


def _objects(renders):
    return [(stack, obj) for stack, rendered in renders.items() for obj in rendered.objects()]


def test_core_objects_pass_strict_kubernetes_validation(renders):
    failures = []
    for stack, obj in _objects(renders):
        if obj["apiVersion"] not in CORE_GROUPS:
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except Exception as error:  # noqa: BLE001 - every failure is reported below
            failures.append(f"{stack} {obj['kind']}/{obj['metadata']['name']}: {error}")
    assert not failures, "\n".join(failures)


def test_the_every_plugin_stack_emits_every_custom_resource_kind(renders):
    """.ci/run validates this render against the upstream CRDs (write_every_plugin_render)."""
    kinds = {obj["kind"] for obj in renders["every-plugin"].objects()}
    assert {"Dataset", "DataLoad", "AlluxioRuntime", "JindoRuntime", "JuiceFSRuntime", "NetworkAttachmentDefinition"} <= kinds


def write_every_plugin_render(out_dir: str) -> None:
    """Renders the test-only stack that uses every plugin, for validate_crs.py in .ci/run."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        rendered = render(Path(folder), _every_plugin(), stack="every-plugin")
        write_render(rendered, out_dir)


def _scripts(renders):
    for stack, obj in _objects(renders):
        name = f"{stack} {obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "ConfigMap":
            for key, text in obj.get("data", {}).items():
                if key.endswith(".sh"):
                    yield f"{name}:{key}", text
        for pod, template in pod_templates([obj]):
            for container in template["spec"].get("initContainers", []):
                if container["command"][:2] == ["/bin/bash", "-c"]:
                    yield f"{stack} {pod}:{container['name']}", container["command"][2]


def test_scripts_parse_and_are_shellcheck_clean(renders, tmp_path):
    scripts = dict(_scripts(renders))
    assert any(":fetch.sh" in name for name in scripts) and any("wait-for-weights" in name for name in scripts)
    for index, (name, text) in enumerate(sorted(scripts.items())):
        assert text.startswith("#!/usr/bin/env bash\n"), name
        path = tmp_path / f"{index}.sh"
        path.write_text(text)
        parsed = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert parsed.returncode == 0, f"{name}: {parsed.stderr}"
        if shutil.which("shellcheck"):
            # Data-plane scripts are held to every level; the launchers' probe.sh quotes
            # `$VAR` for an inner `bash -c` on purpose (SC2016, info), so others stop at warnings.
            ours = ":fetch.sh" in name or "wait-for-weights" in name
            severity = ["-S", "style"] if ours else ["-S", "warning"]
            checked = subprocess.run(["shellcheck", "-s", "bash", *severity, str(path)], capture_output=True, text=True)
            assert checked.returncode == 0, f"{name}:\n{checked.stdout}"


def test_prod_uses_an_alluxio_cache_with_warmup_and_sriov_rdma(renders):
    prod = renders["prod"]
    kinds = {(o["kind"], o["metadata"]["name"]) for o in prod.objects()}
    assert ("AlluxioRuntime", "llama-405b-cache") in kinds
    assert ("DataLoad", "llama-405b-cache-warmup") in kinds and ("DataLoad", "llama-405b-cache-warmup-cron") in kinds
    nads = [o for o in prod.objects() if o["kind"] == "NetworkAttachmentDefinition"]
    assert nads and all('"type":"rdma"' in o["spec"]["config"] and '"type":"sriov"' in o["spec"]["config"] for o in nads)


def test_other_stacks_show_another_runtime_and_fabric(renders):
    others = [renders[s] for s in STACKS if s != "prod"]
    summaries = [row for rendered in others for row in rendered.outputs["models"].values()]
    assert any(not row["cache"].startswith(("AlluxioRuntime", "none")) for row in summaries)
    assert any(row["rdma"] and not row["network"].startswith("sriov") for row in summaries)


def test_pod_resource_matches_its_attachment_in_every_render(renders):
    checked = 0
    for stack, rendered in renders.items():
        nads = {o["metadata"]["name"]: o for o in rendered.objects() if o["kind"] == "NetworkAttachmentDefinition"}
        for pod, template in pod_templates(rendered):
            request = template["metadata"].get("annotations", {}).get("k8s.v1.cni.cncf.io/networks")
            if not request:
                continue
            # One attachment per RDMA device (several with railOptimized/devicesPerPod), each its own interface.
            attachments = json.loads(request)
            assert len({a["interface"] for a in attachments}) == len(attachments)
            (name,) = {a["name"] for a in attachments}
            resource = nads[name]["metadata"].get("annotations", {}).get("k8s.v1.cni.cncf.io/resourceName")
            limits = template["spec"]["containers"][0]["resources"]["limits"]
            if resource:
                assert limits.get(resource) == len(attachments), f"{stack} {pod}"
                checked += 1
    assert checked, "no pod requests a device-backed attachment"


def test_plan_table_states_the_network_of_every_model(renders, tmp_path):
    table = plan_table(render(tmp_path, config(model(), model(name="rdma", network=SRIOV))))
    assert "NETWORK" in table
    assert "pod network (TCP, no RDMA)" in table
    assert "sriov RDMA (RoCE) on net1" in table


def test_all_stacks_render_from_the_cli(tmp_path):
    from vllm_fleet.cli import main

    assert main(["--project-dir", str(PROJECT), "render", "--all-stacks", "--out", str(tmp_path), "-q"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(STACKS)


def test_hf_token_secret_keeps_its_keys_only(renders):
    (secret_obj,) = [o for o in renders["every-plugin"].objects() if o["kind"] == "Secret"]
    assert secret_obj["stringData"] == {"token": "[secret]"}
    assert secret("x").__repr__() == "SecretValue(<redacted>)"


if __name__ == "__main__":
    write_every_plugin_render(sys.argv[1])
