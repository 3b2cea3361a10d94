"""Sources: Hugging Face and S3 fill a protected claim once; pods wait for the marker; secrets stay secret."""

from __future__ import annotations

import re

import pytest

from vllm_fleet import render as render_module
from .dataplane_support import (
    ALLUXIO,
    TOKEN,
    config,
    env_of,
    model,
    named,
    of_kind,
    one_issue,
    plan,
    pod_spec,
    pod_templates,
    render,
    secret,
)

HF = {"type": "huggingface", "size": "100Gi", "revision": "0123abcd"}
S3 = {
    "type": "s3",
    "url": "s3://weights-bucket/llm",
    "endpoint": "https://minio.example:9000",
    "credentialsSecret": "weights-s3",
    "size": "100Gi",
}
# Read through a cache the bucket needs no claim, so claim keys (size) would be errors.
S3_CACHED = {key: value for key, value in S3.items() if key != "size"}


def test_huggingface_fills_a_protected_claim_with_a_job_and_the_token_as_a_secret():
    planned = plan(config(model(storage=HF), hfToken=secret()))
    kinds = {(o.kind, o.name) for o in planned.weights.objects}
    assert kinds == {
        ("PersistentVolumeClaim", "llm-weights"),
        ("Secret", "llm-fetch"),
        ("ConfigMap", "llm-fetch"),
        ("Job", "llm-fetch"),
        ("NetworkPolicy", "llm-fetch"),
    }
    claim = next(o for o in planned.weights.objects if o.kind == "PersistentVolumeClaim")
    assert claim.protect and claim.retain_on_delete
    job = next(o for o in planned.weights.objects if o.kind == "Job")
    assert job.annotations == {"pulumi.com/skipAwait": "true", "vllm-fleet.io/weights-source": "hf://org/llm@0123abcd"}
    container = job.body["spec"]["template"]["spec"]["containers"][0]
    assert env_of(container)["HF_TOKEN"] == {"secretKeyRef": {"name": "llm-fetch", "key": "token"}}
    script = next(o for o in planned.weights.objects if o.kind == "ConfigMap").body["data"]["fetch.sh"]
    assert "repo=org/llm\nrevision=0123abcd\n" in script
    assert 'hf download "${options[@]}" -- "${repo}"' in script
    assert TOKEN not in script


def test_huggingface_installs_nothing_at_run_time_and_runs_on_the_models_vllm_image():
    """Air-gapped clusters: no pip, no venv; the vLLM image ships `hf` (pinned by its tag)."""
    planned = plan(config(model(storage=HF, image="registry.local/vllm:v9.9.9"), hfToken=secret()))
    job = next(o for o in planned.weights.objects if o.kind == "Job")
    assert job.body["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/vllm:v9.9.9"
    script = next(o for o in planned.weights.objects if o.kind == "ConfigMap").body["data"]["fetch.sh"]
    assert not re.search(r"\bpip3?\b|\bvenv\b|python3", script)
    overridden = plan(config(model(storage={**HF, "image": "mirror.local/hf:1.2.3"}), hfToken=secret()))
    job = next(o for o in overridden.weights.objects if o.kind == "Job")
    assert job.body["spec"]["template"]["spec"]["containers"][0]["image"] == "mirror.local/hf:1.2.3"


def test_pods_wait_for_the_marker_with_a_bounded_init_container():
    planned = plan(config(model(storage={**HF, "waitTimeoutSeconds": 600}), hfToken=secret()))
    (wait,) = planned.pod.init_containers
    script = wait["command"][2]
    assert "marker=/models/org/llm/.vllm-fleet-complete\n" in script and "timeout_seconds=600\n" in script
    assert "expected=hf://org/llm@0123abcd\n" in script
    assert wait["volumeMounts"] == [{"name": "weights", "mountPath": "/models", "readOnly": True}]
    assert planned.await_timeout_seconds >= 600 + planned.entrypoints.startup_budget_seconds


def test_huggingface_without_a_token_for_a_public_repo():
    planned = plan(config(model(storage={**HF, "token": False})))
    assert "Secret" not in {o.kind for o in planned.weights.objects}


def test_huggingface_token_missing_is_a_clear_error():
    message = one_issue(config(model(storage=HF)), "vllm-fleet:models[0].storage.token")
    assert "pulumi config set --secret vllm-fleet:hfToken" in message


def test_hf_token_in_plain_text_is_refused():
    message = one_issue(config(model(storage=HF), hfToken=TOKEN), "vllm-fleet:hfToken")
    assert "must be a secret" in message and TOKEN not in message


def test_s3_without_cache_syncs_into_a_claim_with_credentials_by_reference():
    planned = plan(config(model(storage=S3)))
    job = next(o for o in planned.weights.objects if o.kind == "Job")
    env = env_of(job.body["spec"]["template"]["spec"]["containers"][0])
    assert env["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "weights-s3", "key": "AWS_ACCESS_KEY_ID"}}
    assert env["AWS_SECRET_ACCESS_KEY"] == {"secretKeyRef": {"name": "weights-s3", "key": "AWS_SECRET_ACCESS_KEY"}}
    assert "Secret" not in {o.kind for o in planned.weights.objects}  # never creates or inlines credentials
    script = next(o for o in planned.weights.objects if o.kind == "ConfigMap").body["data"]["fetch.sh"]
    assert "endpoint=https://minio.example:9000\n" in script and 'options+=(--endpoint-url="${endpoint}")' in script
    assert 'aws s3 sync "${options[@]}" "${url}" "${target}"' in script
    assert "expected='s3://weights-bucket/llm/ via https://minio.example:9000'" in planned.pod.init_containers[0]["command"][2]
    assert planned.serve_args[0] == "/models/llm"


def test_s3_with_a_cache_mounts_the_bucket_directly():
    planned = plan(config(model(storage=S3_CACHED, cache=ALLUXIO)))
    assert planned.weights.objects == ()  # no claim, no Job
    assert planned.pod.init_containers == ()
    (mount,) = planned.cache.dataset.body["spec"]["mounts"]
    assert mount["mountPoint"] == "s3://weights-bucket/llm/" and mount["path"] == "/llm"
    assert mount["options"]["alluxio.underfs.s3.endpoint"] == "https://minio.example:9000"
    assert {o["name"]: o["valueFrom"]["secretKeyRef"] for o in mount["encryptOptions"]} == {
        "aws.accessKeyId": {"name": "weights-s3", "key": "AWS_ACCESS_KEY_ID"},
        "aws.secretKey": {"name": "weights-s3", "key": "AWS_SECRET_ACCESS_KEY"},
    }
    assert planned.serve_args[0] == "/models/llm"  # same path as without a cache


def test_jindo_names_s3_options_its_own_way():
    jindo = {"type": "jindo", "tiers": [{"medium": "MEM", "quota": "8Gi"}]}
    (mount,) = plan(config(model(storage={**S3_CACHED, "region": "eu-west-1"}, cache=jindo))).cache.dataset.body["spec"]["mounts"]
    assert mount["options"] == {"fs.s3.endpoint": "https://minio.example:9000", "fs.s3.region": "eu-west-1"}
    assert [o["name"] for o in mount["encryptOptions"]] == ["fs.s3.accessKeyId", "fs.s3.accessKeySecret"]


@pytest.mark.parametrize(
    "settings, path, expected",
    [
        ({**S3, "url": "https://bucket/llm"}, "url", "must start with s3://"),
        ({**S3, "url": "s3://bucket/$(id)/"}, "url", "safe key characters"),
        ({**S3, "url": "s3://bucket/a/../b"}, "url", "'..' segments"),
        ({**S3, "url": "s3://192.168.1.10/llm"}, "url", "not an IP address"),
        ({**S3, "url": "s3://my..bucket/llm"}, "url", "DNS-compatible"),
        ({**S3, "url": "s3://Upper/llm"}, "url", "DNS-compatible"),
        ({**S3, "url": "s3://xn--bucket/llm"}, "url", "DNS-compatible"),
        ({**S3, "url": "s3://ab/llm"}, "url", "3-63"),
        ({**S3, "endpoint": "https://minio.example:9000/x; id"}, "endpoint", "not an endpoint URL"),
        ({**S3, "region": "us-east-1\nid"}, "region", "must match"),
        ({**S3, "credentialsSecret": "Not_A_Name"}, "credentialsSecret", "must match"),
        ({**S3, "size": "big"}, "size", "Kubernetes quantity"),
        ({**HF, "repo": "not a repo"}, "repo", "not a Hugging Face repo id"),
        ({**HF, "repo": "org/a--b"}, "repo", "no '--' or '..'"),
        ({**HF, "repo": "org/x.git"}, "repo", "'.git'"),
        ({**HF, "repo": "a/" + "b" * 95}, "repo", "at most 96"),
        ({**HF, "revision": 'main"; touch /tmp/PWNED; echo "'}, "revision", "not a branch, tag or commit"),
        ({**HF, "revision": "--force"}, "revision", "not starting with '-'"),
        ({**HF, "revision": "v1..v2"}, "revision", "not a branch, tag or commit"),
        ({**HF, "revision": "main\n"}, "revision", "not a branch, tag or commit"),
        ({**HF, "revision": "feature/.hidden"}, "revision", "not a branch, tag or commit"),
        ({**HF, "revision": "a.lock"}, "revision", "not a branch, tag or commit"),
        ({**HF, "revision": ""}, "revision", "not a branch, tag or commit"),
        ({**HF, "include": ["*.json\nx"]}, "include", "control characters"),
        ({**HF, "waitTimeoutSeconds": 0}, "waitTimeoutSeconds", "must be a positive integer"),
        ({**S3, "accessMode": "ReadWriteOnce"}, "accessMode", "ReadWriteOnce can't be mounted"),
    ],
)
def test_bad_source_settings(settings, path, expected):
    raw = config(model(storage=settings), hfToken=secret())
    assert expected in one_issue(raw, f"vllm-fleet:models[0].storage.{path}")


@pytest.mark.parametrize(
    "settings",
    [
        {**HF, "revision": "main"},
        {**HF, "revision": "v2.0.1"},
        {**HF, "revision": "refs/pr/12"},
        {**HF, "revision": "0123456789abcdef0123456789abcdef01234567"},
        {**HF, "repo": "meta-llama/Llama-3.3-70B-Instruct"},
        {**HF, "repo": "gpt2"},
        {**S3, "url": "s3://acme.llm-weights/llama-3.3/70b_instruct/"},
        {**S3, "url": "s3://bucket"},
        {**S3, "endpoint": "http://[fd00::1]:9000", "region": "us-east-1"},
    ],
)
def test_good_source_shapes_are_accepted(settings):
    assert plan(config(model(storage=settings), hfToken=secret())).weights.objects


def test_a_model_id_that_is_no_repo_id_needs_an_explicit_repo():
    message = one_issue(config(model(model="org/llm--x", storage=HF), hfToken=secret()), "vllm-fleet:models[0].storage.repo")
    assert "repo defaults to the model id" in message and "set storage.repo" in message


def _fetch_objects(settings):
    planned = plan(config(model(storage=settings), hfToken=secret()))
    objects = {o.kind: o for o in planned.weights.objects}
    return planned, objects["Job"], objects["ConfigMap"].body["data"]["fetch.sh"]


def test_a_revision_change_replaces_the_job_and_rolls_the_pods():
    """Job templates are immutable (pulumi-kubernetes replaces the Job); the pods' template changes too."""
    old_plan, old_job, old_script = _fetch_objects({**HF, "revision": "v1"})
    new_plan, new_job, new_script = _fetch_objects({**HF, "revision": "v2"})
    template = lambda job: job.body["spec"]["template"]  # noqa: E731
    assert template(old_job)["metadata"]["annotations"] == {"vllm-fleet.io/weights-source": "hf://org/llm@v1"}
    assert template(new_job)["metadata"]["annotations"] == {"vllm-fleet.io/weights-source": "hf://org/llm@v2"}
    assert "source_id=hf://org/llm@v2\n" in new_script
    assert old_plan.pod.annotations["vllm-fleet.io/weights-source"] != new_plan.pod.annotations["vllm-fleet.io/weights-source"]
    assert "expected=hf://org/llm@v1\n" in old_plan.pod.init_containers[0]["command"][2]
    assert "expected=hf://org/llm@v2\n" in new_plan.pod.init_containers[0]["command"][2]


def test_fetch_pods_carry_labels_no_group_selector_matches():
    _, job, _ = _fetch_objects(HF)
    labels = job.body["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "vllm-fleet-fetch"
    assert labels["app.kubernetes.io/instance"] == "llm" and labels["app.kubernetes.io/component"] == "fetch"


def test_new_pvc_pods_wait_for_any_marker_unless_opted_out():
    planned = plan(config(model()))
    (wait,) = planned.pod.init_containers
    script = wait["command"][2]
    assert "expected=''\n" in script and "marker=/models/org/llm/.vllm-fleet-complete\n" in script
    assert planned.weights.ready_timeout_seconds == 14400
    prefilled = plan(config(model(storage={"type": "new-pvc", "size": "1Ti", "waitForMarker": False})))
    assert prefilled.pod.init_containers == () and prefilled.weights.ready_timeout_seconds == 0


def test_the_cache_warms_only_after_the_weights_are_complete():
    planned = plan(config(model(storage=HF, cache=ALLUXIO), hfToken=secret()))
    kinds = [(o.kind, o.name) for o in planned.cache.loads]
    assert kinds == [("DataProcess", "llm-cache-ready"), ("DataLoad", "llm-cache-warmup")]
    gate, load = planned.cache.loads
    assert load.body["spec"]["runAfter"] == {
        "apiVersion": "data.fluid.io/v1alpha1", "kind": "DataProcess", "name": "llm-cache-ready", "namespace": "llm-test",
    }
    pod = gate.body["spec"]["processor"]["job"]["podSpec"]
    (wait,) = pod["containers"]
    assert "expected=hf://org/llm@0123abcd\n" in wait["command"][2]
    assert pod["volumes"] == [{"name": "weights", "persistentVolumeClaim": {"claimName": "llm-weights", "readOnly": True}}]
    # A bucket the cache reads itself has nothing to wait for.
    remote = plan(config(model(storage=S3_CACHED, cache=ALLUXIO)))
    assert [o.kind for o in remote.cache.loads] == ["DataLoad"] and "runAfter" not in remote.cache.loads[0].body["spec"]


def test_fetch_pod_and_weights_claim_in_the_render(tmp_path, monkeypatch):
    rendered = _render_with_plain_token(tmp_path, monkeypatch, config(model(storage=HF), hfToken={"secure": "x"}))
    resources = {r.name: r for r in rendered.resources}
    assert resources["persistentvolumeclaim-llm-weights"].protect
    assert resources["persistentvolumeclaim-llm-weights"].retain_on_delete
    job = resources["job-llm-fetch"]
    assert {resources[n].urn for n in ("persistentvolumeclaim-llm-weights", "secret-llm-fetch", "configmap-llm-fetch")} <= set(job.depends_on)
    job_pod = named(rendered, "Job", "llm-fetch")["spec"]["template"]["spec"]
    assert job_pod["securityContext"]["runAsNonRoot"] is True
    head = pod_spec(named(rendered, "StatefulSet", "llm-head"))
    assert [c["name"] for c in head["initContainers"]] == ["wait-for-weights"]


def _render_with_plain_token(tmp_path, monkeypatch, raw):
    """Feeds the real token text through set_all_config, as `pulumi up` would after decrypting it."""
    original = render_module.stack_config

    def decrypted(project, stack):
        values, secret_keys = original(project, stack)
        values["vllm-fleet:hfToken"] = TOKEN
        return values, secret_keys

    monkeypatch.setattr(render_module, "stack_config", decrypted)
    return render(tmp_path, raw)


def test_the_token_never_appears_in_any_rendered_file(tmp_path, monkeypatch):
    raw = config(model(storage=HF), hfToken={"secure": "v1:ciphertext"})
    rendered = _render_with_plain_token(tmp_path / "project", monkeypatch, raw)
    secret_obj = of_kind(rendered, "Secret")[0]
    assert secret_obj["stringData"] == {"token": "[secret]"}
    out = render_module.write_render(rendered, tmp_path / "out")
    files = [path for path in out.rglob("*") if path.is_file()]
    assert files and not [path for path in files if TOKEN in path.read_text()]
    assert TOKEN not in repr(rendered.outputs)


def _selectors(obj):
    """(what, matchLabels) of every pod selector a group object carries."""
    spec = obj.get("spec", {})
    if obj["kind"] == "Service" and spec.get("selector"):
        yield "Service", spec["selector"]
    if obj["kind"] == "NetworkPolicy":
        yield "NetworkPolicy", spec["podSelector"].get("matchLabels", {})
        for rule in spec.get("ingress", []):
            for peer in rule.get("from", []):
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    yield "NetworkPolicy peer", peer["podSelector"].get("matchLabels", {})
    if obj["kind"] in ("PodDisruptionBudget", "StatefulSet"):
        yield obj["kind"], spec["selector"].get("matchLabels", {})


def test_no_group_selector_in_any_rendered_stack_selects_a_fetch_pod(tmp_path):
    from vllm_fleet.render import load_project, render_stack

    from .dataplane_support import PROJECT
    from .test_dataplane_render import STACKS, _every_plugin

    renders = [render_stack(load_project(PROJECT), stack) for stack in STACKS]
    renders.append(render(tmp_path, _every_plugin(), stack="every-plugin"))
    fetch_pods = members = 0
    for rendered in renders:
        objects = rendered.objects()
        selectors = [(o["metadata"]["name"], what, labels) for o in objects for what, labels in _selectors(o)]
        for obj in objects:
            if obj["kind"] == "Job":
                templates = [(f"Job/{obj['metadata']['name']}", obj["spec"]["template"])]
            else:
                templates = pod_templates([obj])
            for pod, template in templates:
                labels = template["metadata"]["labels"]
                # The fetch Job's own NetworkPolicy (same name, denies all ingress) is meant to select it.
                matching = [f"{what} {name}" for name, what, wanted in selectors
                            if wanted and wanted.items() <= labels.items() and name != obj["metadata"]["name"]]
                if obj["kind"] == "Job":
                    fetch_pods += 1
                    assert not matching, f"{rendered.stack} {pod}'s pods are selected by {matching}"
                else:
                    members += 1
                    assert matching, f"selectors found nothing for {pod}: the check would prove nothing"
    assert fetch_pods >= 3 and members >= 3


def test_nothing_may_connect_to_a_fetch_pod():
    objects = {o.kind: o for o in plan(config(model(storage=HF), hfToken=secret())).weights.objects}
    job_labels = objects["Job"].body["spec"]["template"]["metadata"]["labels"]
    policy = objects["NetworkPolicy"].body["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= job_labels.items()
    assert policy["policyTypes"] == ["Ingress"] and policy["ingress"] == []
