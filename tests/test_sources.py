"""Sources: Hugging Face and S3 fill a protected claim once; pods wait for the marker; secrets stay secret."""

from __future__ import annotations

import pytest

from components import render as render_module
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
    }
    claim = next(o for o in planned.weights.objects if o.kind == "PersistentVolumeClaim")
    assert claim.protect and claim.retain_on_delete
    job = next(o for o in planned.weights.objects if o.kind == "Job")
    assert job.annotations == {"pulumi.com/skipAwait": "true"}
    container = job.body["spec"]["template"]["spec"]["containers"][0]
    assert env_of(container)["HF_TOKEN"] == {"secretKeyRef": {"name": "llm-fetch", "key": "token"}}
    script = next(o for o in planned.weights.objects if o.kind == "ConfigMap").body["data"]["fetch.sh"]
    assert "hf download org/llm --revision 0123abcd" in script
    assert TOKEN not in script


def test_pods_wait_for_the_marker_with_a_bounded_init_container():
    planned = plan(config(model(storage={**HF, "waitTimeoutSeconds": 600}), hfToken=secret()))
    (wait,) = planned.pod.init_containers
    script = wait["command"][2]
    assert "/models/org/llm/.vllm-fleet-complete" in script and "-ge 600" in script
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
    assert "aws s3 sync" in script and "--endpoint-url https://minio.example:9000" in script
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
        ({**S3, "url": "https://bucket/llm"}, "url", "must match"),
        ({**S3, "credentialsSecret": "Not_A_Name"}, "credentialsSecret", "must match"),
        ({**S3, "size": "big"}, "size", "Kubernetes quantity"),
        ({**HF, "repo": "not a repo"}, "repo", "must match"),
        ({**HF, "waitTimeoutSeconds": 0}, "waitTimeoutSeconds", "must be a positive integer"),
        ({**S3, "accessMode": "ReadWriteOnce"}, "accessMode", "ReadWriteOnce can't be mounted"),
    ],
)
def test_bad_source_settings(settings, path, expected):
    raw = config(model(storage=settings), hfToken=secret())
    assert expected in one_issue(raw, f"vllm-fleet:models[0].storage.{path}")


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
