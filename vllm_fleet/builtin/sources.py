"""Sources that fetch weights into a new claim: a Hugging Face repo or an S3-compatible bucket.

Both follow one pattern. A Job fills the claim and writes a marker file after
the last byte; its first line names the source fetched (`hf://repo@revision`,
the bucket URL). The vLLM pods wait in an init container for a marker naming
the source they expect, so `pulumi up` never blocks on an 800 GB download (the
Job skips Pulumi's await), no pod ever serves half a model, and a source change
(a new revision) refetches: the source is an annotation on the Job's pod
template (pulumi-kubernetes replaces a Job whose template changes) and part of
the pods' wait script (they roll). The claim is protected like any `new-pvc`
claim. Credentials reach the Job only as Secret references. Values reach the
scripts only through the shell template environment (`vllm_fleet/templates.py`).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, ClassVar, Optional

from pydantic import Field, field_validator

from ..constants import (
    ANNOTATION_PULUMI_SKIP_AWAIT,
    ANNOTATION_WEIGHTS_SOURCE,
    ENTRYPOINT_DIR,
    FETCH_APP_NAME,
    FETCH_S3_IMAGE,
    FETCH_UID,
    LABEL_INSTANCE,
    LABEL_NAME,
    WEIGHTS_FETCHING,
    WEIGHTS_MARKER,
    WEIGHTS_MOUNT,
    WEIGHTS_VOLUME,
)
from ..sdk import (
    ModelPlan,
    MountSource,
    ObjectSpec,
    PlanError,
    PodAdditions,
    PositiveQuantity,
    SecretKeyRef,
    ShellLiteral,
    WeightsPlan,
    claim_mount,
    weights_path,
)
from ..sdk import render_template as render
from .storage import RESTRICTED, ClaimSettings, WaitSettings, new_claim, wait_for_weights

# ------------------------------------------------------------- shapes upstream defines

# huggingface_hub's validate_repo_id: [namespace/]name of [A-Za-z0-9_.-], starting and
# ending with [A-Za-z0-9_], no "--" or "..", not ending in ".git", at most 96 characters.
_HF_NAME = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?"
_HF_REPO = re.compile(rf"^(?:{_HF_NAME}/)?{_HF_NAME}$")
# git check-ref-format: no control characters, space, ~ ^ : ? * [ \ anywhere.
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
# S3 bucket naming rules (general purpose buckets), DNS-compatible.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# S3's "safe characters" for object keys; others need special handling by clients.
_KEY = re.compile(r"^[A-Za-z0-9!_.*'()/-]*$")
_ENDPOINT = re.compile(r"^https?://(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?/?$")


def hf_repo_problem(repo: str) -> Optional[str]:
    """Why `repo` is not a Hub repo id (huggingface_hub's rules), or None."""
    if len(repo) > 96 or not _HF_REPO.match(repo) or "--" in repo or ".." in repo or repo.endswith(".git"):
        return (
            f"{repo!r} is not a Hugging Face repo id: [namespace/]name of letters, digits, '_', '-', '.', "
            "starting and ending with a letter, digit or '_', no '--' or '..', not ending in '.git', at most 96 characters"
        )
    return None


def revision_problem(revision: str) -> Optional[str]:
    """Why `revision` is not a branch, tag or commit (git's ref-name rules), or None."""
    parts = revision.split("/")
    if (
        not 1 <= len(revision) <= 255
        or revision.startswith("-")
        or _REF_FORBIDDEN.search(revision)
        or ".." in revision
        or "@{" in revision
        or revision == "@"
        or revision.endswith(".")
        or any(not part or part.startswith(".") or part.endswith(".lock") for part in parts)
    ):
        return (
            f"{revision!r} is not a branch, tag or commit: a git ref name (no spaces, control characters, "
            "'~^:?*[\\', '..', '@{', empty or '.'-led components; not starting with '-') or a 40-hex commit id"
        )
    return None


def s3_url_problem(url: str) -> Optional[str]:
    """Why `url` is not s3://bucket[/prefix] with a DNS-compatible bucket and a plain key prefix, or None."""
    if not url.startswith("s3://"):
        return f"{url!r} must start with s3:// (s3://bucket/prefix/)"
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if (
        not _BUCKET.match(bucket)
        or ".." in bucket or ".-" in bucket or "-." in bucket
        or bucket.startswith(_BUCKET_PREFIXES) or bucket.endswith(_BUCKET_SUFFIXES)
        or _is_ip(bucket)
    ):
        return (
            f"bucket {bucket!r} is not a DNS-compatible S3 bucket name: 3-63 of a-z, 0-9, '.', '-', starting and "
            "ending with a letter or digit, no '..', not an IP address, no xn--/sthree-/amzn-s3-demo- prefix"
        )
    segments = [s for s in prefix.split("/") if s]
    if len(prefix) > 1024 or not _KEY.match(prefix) or "//" in prefix or any(s in (".", "..") for s in segments):
        return (
            f"prefix {prefix!r} may use only S3's safe key characters (letters, digits, '/!_.*\\'()-'), "
            "no empty, '.' or '..' segments, at most 1024 characters"
        )
    return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _raise(problem: Optional[str]) -> None:
    if problem:
        raise ValueError(problem)


# ------------------------------------------------------------------------ the Job


def fetch_labels(plan: ModelPlan) -> dict[str, str]:
    """The model's labels with a name of their own: no group selector (all select name=vllm) matches."""
    return {**plan.labels("fetch"), LABEL_NAME: FETCH_APP_NAME}


class FetchSettings(ClaimSettings, WaitSettings):
    """A new claim (as `new-pvc`) plus how long the vLLM pods wait for the fetch."""


def fetch_job(
    plan: ModelPlan, claim: str, image: str, script: str, env: list[dict[str, Any]], source: str
) -> tuple[ObjectSpec, ...]:
    """The script's ConfigMap, the Job that runs it against the claim (read-write, non-root), its NetworkPolicy."""
    name = plan.names.fetch
    labels = fetch_labels(plan)
    config_map = ObjectSpec("v1", "ConfigMap", name, {"data": {"fetch.sh": script}}, labels=labels)
    container = {
        "name": "fetch",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/bash", f"{ENTRYPOINT_DIR}/fetch.sh"],
        "env": [{"name": "HOME", "value": "/tmp"}, *env],
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
        "volumeMounts": [
            {"name": WEIGHTS_VOLUME, "mountPath": WEIGHTS_MOUNT},
            {"name": "script", "mountPath": ENTRYPOINT_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "securityContext": {**RESTRICTED, "readOnlyRootFilesystem": True},
    }
    pod_spec = {
        "restartPolicy": "OnFailure",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": FETCH_UID,
            "runAsGroup": FETCH_UID,
            "fsGroup": FETCH_UID,
            # Re-chowning a claim full of weights on every start would take minutes.
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": WEIGHTS_VOLUME, "persistentVolumeClaim": {"claimName": claim}},
            {"name": "script", "configMap": {"name": name, "defaultMode": 0o555}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "4Gi"}},
        ],
    }
    # A Job's template is immutable: pulumi-kubernetes replaces the Job when the source changes.
    template = {"metadata": {"labels": labels, "annotations": {ANNOTATION_WEIGHTS_SOURCE: source}}, "spec": pod_spec}
    job = ObjectSpec(
        "batch/v1",
        "Job",
        name,
        {"spec": {"backoffLimit": 6, "template": template}},
        labels=labels,
        # The pods wait for the marker; `pulumi up` must not wait hours for the download.
        annotations={ANNOTATION_PULUMI_SKIP_AWAIT: "true", ANNOTATION_WEIGHTS_SOURCE: source},
    )
    return config_map, job, fetch_network_policy(name, labels)


def fetch_network_policy(name: str, labels: dict[str, str]) -> ObjectSpec:
    """Nothing may connect to a fetch pod (it serves nothing); it reaches out to the Hub or the bucket."""
    selector = {key: labels[key] for key in (LABEL_NAME, LABEL_INSTANCE)}
    spec = {"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"], "ingress": []}
    return ObjectSpec("networking.k8s.io/v1", "NetworkPolicy", name, {"spec": spec}, labels=labels)


def fetch_script(template: str, plan: ModelPlan, folder: str, source: str, **context: Any) -> str:
    """A fetch script; every one fills `/models/<folder>` and ends with the marker naming `source`."""
    return render(
        template,
        model_name=plan.name,
        source_id=source,
        target=weights_path(folder, plan.config.model),
        marker=ShellLiteral(WEIGHTS_MARKER),
        fetching=ShellLiteral(WEIGHTS_FETCHING),
        **context,
    )


def fetched_weights(
    plan: ModelPlan,
    settings: FetchSettings,
    claim: ObjectSpec,
    folder: str,
    fetch: tuple[ObjectSpec, ...],
    source: str,
    mount: Optional[MountSource] = None,
) -> WeightsPlan:
    model_path = weights_path(folder, plan.config.model)
    wait = wait_for_weights(plan, model_path, settings.wait_timeout_seconds, source, f"job/{plan.names.fetch}")
    check = claim_mount(claim.name).merge(PodAdditions(init_containers=(wait,)))
    return WeightsPlan(
        model_path=model_path,
        objects=(claim, *fetch),
        # The annotation shows a source change in the pod template, next to the wait script.
        pod=check.merge(PodAdditions(annotations={ANNOTATION_WEIGHTS_SOURCE: source})),
        description=f"{source} -> new claim {claim.name} ({settings.size})",
        mount=mount or MountSource(uri=f"pvc://{claim.name}"),
        remote=mount is not None,
        ready_timeout_seconds=settings.wait_timeout_seconds,
        fill_check=check,
        claim_settings=tuple(name for name in FetchSettings.model_fields if name != "path"),
    )


# ------------------------------------------------------------------------ sources


class HuggingFaceSource:
    kind: ClassVar[str] = "storage"
    name: ClassVar[str] = "huggingface"

    class Settings(FetchSettings):
        repo: Optional[str] = Field(None, description="Hub repo id; defaults to the model id.")
        revision: str = Field("main", description="Branch, tag or commit to download (pin a commit).")
        include: list[str] = Field(
            default_factory=list, description="Only files matching these globs (hf download --include)."
        )
        token: bool = Field(
            True,
            description="Use vllm-fleet:hfToken (a Pulumi secret); false for public repos.",
        )
        image: Optional[str] = Field(
            None,
            min_length=1,
            description="Image of the download Job (needs bash and `hf`); defaults to the model's vLLM image.",
        )

        @field_validator("repo")
        @classmethod
        def _repo(cls, value: Optional[str]) -> Optional[str]:
            _raise(hf_repo_problem(value) if value is not None else None)
            return value

        @field_validator("revision")
        @classmethod
        def _revision(cls, value: str) -> str:
            _raise(revision_problem(value))
            return value

        @field_validator("include")
        @classmethod
        def _include(cls, value: list[str]) -> list[str]:
            bad = [p for p in value if not p or len(p) > 256 or re.search(r"[\x00-\x1f\x7f]", p)]
            _raise(f"include patterns must be 1-256 characters without control characters; got {bad!r}" if bad else None)
            return value

    def weights(self, settings: "HuggingFaceSource.Settings", plan: ModelPlan) -> WeightsPlan:
        repo = settings.repo or plan.config.model
        if settings.repo is None and hf_repo_problem(repo):
            raise PlanError(("storage", "repo"), f"repo defaults to the model id, but {hf_repo_problem(repo)}; set storage.repo")
        folder = settings.path if settings.path is not None else plan.config.model
        source = f"hf://{repo}@{settings.revision}" + (f" include={','.join(settings.include)}" if settings.include else "")
        env: list[dict[str, Any]] = [
            {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
            {"name": "HF_HOME", "value": "/tmp/hf-home"},
        ]
        secrets: tuple[ObjectSpec, ...] = ()
        if settings.token:
            if plan.hf_token is None:
                raise PlanError(
                    ("storage", "token"),
                    "the huggingface source needs vllm-fleet:hfToken: run `pulumi config set --secret "
                    "vllm-fleet:hfToken hf_...`, or set token: false for a public repo",
                )
            ref = SecretKeyRef(plan.names.fetch, "token")
            # stringData holds a SecretValue: `_k8s.register` makes it a Pulumi secret.
            secrets = (
                ObjectSpec("v1", "Secret", ref.name, {"type": "Opaque", "stringData": {ref.key: plan.hf_token}},
                           labels=fetch_labels(plan)),
            )
            env.append(ref.env("HF_TOKEN"))
        script = fetch_script(
            "fetch/huggingface.sh.j2", plan, folder, source,
            repo=repo, revision=settings.revision, include=list(settings.include),
        )
        claim = new_claim(settings, plan)
        image = settings.image or plan.image
        job = fetch_job(plan, claim.name, image, script, env, source)
        return fetched_weights(plan, settings, claim, folder, (*secrets, *job), source)


class S3Source:
    kind: ClassVar[str] = "storage"
    name: ClassVar[str] = "s3"

    class Settings(FetchSettings):
        size: Optional[PositiveQuantity] = Field(  # type: ignore[assignment]
            None, description="Claim size, e.g. 500Gi; leave out when a cache reads the bucket (no claim is made)."
        )
        url: str = Field(description="s3://bucket/prefix/ holding the model's files.")
        endpoint: Optional[str] = Field(None, description="Endpoint of an S3-compatible store (MinIO, Ceph RGW...).")
        region: Optional[str] = Field(
            None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$", description="Bucket region."
        )
        credentials_secret: Optional[str] = Field(
            None,
            pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
            description="Existing Secret (same namespace) with the access keys; omitted = anonymous.",
        )
        access_key_id_key: str = Field(
            "AWS_ACCESS_KEY_ID", pattern=r"^[-._a-zA-Z0-9]{1,253}$", description="Key of the access key id."
        )
        secret_access_key_key: str = Field(
            "AWS_SECRET_ACCESS_KEY", pattern=r"^[-._a-zA-Z0-9]{1,253}$", description="Key of the secret access key."
        )
        image: str = Field(FETCH_S3_IMAGE, min_length=1, description="Image of the sync Job (needs aws and bash).")

        @field_validator("url")
        @classmethod
        def _url(cls, value: str) -> str:
            _raise(s3_url_problem(value))
            return value

        @field_validator("endpoint")
        @classmethod
        def _endpoint(cls, value: Optional[str]) -> Optional[str]:
            if value is not None and not _ENDPOINT.match(value):
                raise ValueError(f"{value!r} is not an endpoint URL: http(s)://host[:port] with no path")
            return value

    def weights(self, settings: "S3Source.Settings", plan: ModelPlan) -> WeightsPlan:
        url = settings.url if settings.url.endswith("/") else f"{settings.url}/"
        source = url + (f" via {settings.endpoint}" if settings.endpoint else "")
        # A flat folder: a cache mounts the bucket at /<folder>, and nested mount points need parents.
        folder = settings.path if settings.path is not None else plan.name
        env: list[dict[str, Any]] = []
        access = secret = None
        if settings.credentials_secret:
            access = SecretKeyRef(settings.credentials_secret, settings.access_key_id_key)
            secret = SecretKeyRef(settings.credentials_secret, settings.secret_access_key_key)
            env = [access.env("AWS_ACCESS_KEY_ID"), secret.env("AWS_SECRET_ACCESS_KEY")]
        script = fetch_script(
            "fetch/s3.sh.j2", plan, folder, source,
            url=url, endpoint=settings.endpoint or "", region=settings.region or "",
        )
        claim = new_claim(settings, plan)
        mount = MountSource(
            uri=url,
            path=f"/{folder.strip('/')}",
            endpoint=settings.endpoint,
            region=settings.region,
            access_key_id=access,
            secret_access_key=secret,
        )
        job = fetch_job(plan, claim.name, settings.image, script, env, source)
        return fetched_weights(plan, settings, claim, folder, job, source, mount=mount)
