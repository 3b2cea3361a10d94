"""Sources that fetch weights into a new claim: a Hugging Face repo or an S3-compatible bucket.

Both follow one pattern. A Job fills the claim once and writes a marker file
after the last byte. The vLLM pods wait for that marker in an init container,
so `pulumi up` never blocks on an 800 GB download (the Job skips Pulumi's
await) and no pod ever serves half a model. The claim is protected like any
`new-pvc` claim. Credentials reach the Job only as Secret references.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

from pydantic import Field

from ..constants import (
    ANNOTATION_PULUMI_SKIP_AWAIT,
    ENTRYPOINT_DIR,
    FETCH_PYTHON_IMAGE,
    FETCH_S3_IMAGE,
    FETCH_UID,
    HUGGINGFACE_HUB_PACKAGE,
    WEIGHTS_MARKER,
    WEIGHTS_MOUNT,
    WEIGHTS_VOLUME,
)
from ..plan import ModelPlan, PlanError, claim_mount, weights_path
from ..plugins.types import MountSource, ObjectSpec, PodAdditions, SecretKeyRef, WeightsPlan
from ..templates import render
from ..validators import PositiveQuantity
from .storage import NewClaim, new_claim

WAIT_POLL_SECONDS = 10
_RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


class FetchSettings(NewClaim.Settings):
    """A new claim (as `new-pvc`) plus how long the vLLM pods wait for the fetch."""

    wait_timeout_seconds: int = Field(
        14400, gt=0, description="How long each vLLM pod waits for the fetch Job's completion marker."
    )


def fetch_job(plan: ModelPlan, claim: str, image: str, script: str, env: list[dict[str, Any]]) -> tuple[ObjectSpec, ...]:
    """The script's ConfigMap and the Job that runs it against the claim (read-write, non-root)."""
    name = plan.names.fetch
    labels = plan.labels("fetch")
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
        "securityContext": {**_RESTRICTED, "readOnlyRootFilesystem": True},
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
    job = ObjectSpec(
        "batch/v1",
        "Job",
        name,
        {"spec": {"backoffLimit": 6, "template": {"metadata": {"labels": labels}, "spec": pod_spec}}},
        labels=labels,
        # The pods wait for the marker; `pulumi up` must not wait hours for the download.
        annotations={ANNOTATION_PULUMI_SKIP_AWAIT: "true"},
    )
    return config_map, job


def fetch_script(template: str, plan: ModelPlan, folder: str, **context: Any) -> str:
    """A fetch script; every one fills `/models/<folder>` and ends with the marker."""
    target = weights_path(folder, plan.config.model)
    return render(template, model_name=plan.name, target=target, marker=WEIGHTS_MARKER, **context)


def wait_for_weights(plan: ModelPlan, model_path: str, timeout_seconds: int) -> dict[str, Any]:
    """Init container: the vLLM image (already on the node) polls for the marker, bounded and logged."""
    script = render(
        "fetch/wait.sh.j2",
        model_name=plan.name,
        job=plan.names.fetch,
        marker=WEIGHTS_MARKER,
        marker_path=f"{model_path}/{WEIGHTS_MARKER}",
        timeout_seconds=timeout_seconds,
        poll_seconds=WAIT_POLL_SECONDS,
    )
    return {
        "name": "wait-for-weights",
        "image": plan.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/bash", "-c", script],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        "volumeMounts": [{"name": WEIGHTS_VOLUME, "mountPath": WEIGHTS_MOUNT, "readOnly": True}],
        # It only reads the marker and sleeps.
        "securityContext": {**_RESTRICTED, "readOnlyRootFilesystem": True},
    }


def fetched_weights(
    plan: ModelPlan,
    settings: FetchSettings,
    claim: ObjectSpec,
    folder: str,
    fetch: tuple[ObjectSpec, ...],
    description: str,
    mount: Optional[MountSource] = None,
) -> WeightsPlan:
    model_path = weights_path(folder, plan.config.model)
    return WeightsPlan(
        model_path=model_path,
        objects=(claim, *fetch),
        pod=claim_mount(claim.name).merge(
            PodAdditions(init_containers=(wait_for_weights(plan, model_path, settings.wait_timeout_seconds),))
        ),
        description=description,
        mount=mount or MountSource(uri=f"pvc://{claim.name}"),
        remote=mount is not None,
        ready_timeout_seconds=settings.wait_timeout_seconds,
        claim_settings=tuple(name for name in FetchSettings.model_fields if name != "path"),
    )


class HuggingFaceSource:
    kind: ClassVar[str] = "storage"
    name: ClassVar[str] = "huggingface"

    class Settings(FetchSettings):
        repo: Optional[str] = Field(
            None, pattern=r"^[\w.-]+(/[\w.-]+)?$", description="Hub repo id; defaults to the model id."
        )
        revision: str = Field("main", min_length=1, description="Branch, tag or commit to download (pin a commit).")
        include: list[str] = Field(
            default_factory=list, description="Only files matching these globs (hf download --include)."
        )
        token: bool = Field(
            True,
            description="Use vllm-fleet:hfToken (a Pulumi secret); false for public repos.",
        )
        image: str = Field(FETCH_PYTHON_IMAGE, min_length=1, description="Image of the download Job (needs python3).")

    def weights(self, settings: "HuggingFaceSource.Settings", plan: ModelPlan) -> WeightsPlan:
        repo = settings.repo or plan.config.model
        folder = settings.path if settings.path is not None else plan.config.model
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
                           labels=plan.labels("fetch")),
            )
            env.append(ref.env("HF_TOKEN"))
        script = fetch_script(
            "fetch/huggingface.sh.j2",
            plan,
            folder,
            repo=repo,
            revision=settings.revision,
            include=settings.include,
            package=HUGGINGFACE_HUB_PACKAGE,
        )
        claim = new_claim(settings, plan)
        return fetched_weights(
            plan,
            settings,
            claim,
            folder,
            (*secrets, *fetch_job(plan, claim.name, settings.image, script, env)),
            f"hf://{repo}@{settings.revision} -> new claim {claim.name} ({settings.size})",
        )


class S3Source:
    kind: ClassVar[str] = "storage"
    name: ClassVar[str] = "s3"

    class Settings(FetchSettings):
        size: Optional[PositiveQuantity] = Field(  # type: ignore[assignment]
            None, description="Claim size, e.g. 500Gi; leave out when a cache reads the bucket (no claim is made)."
        )
        url: str = Field(
            pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
            description="s3://bucket/prefix/ holding the model's files.",
        )
        endpoint: Optional[str] = Field(
            None, pattern=r"^https?://[^\s/]+", description="Endpoint of an S3-compatible store (MinIO, Ceph RGW...)."
        )
        region: Optional[str] = Field(None, min_length=1, description="Bucket region.")
        credentials_secret: Optional[str] = Field(
            None,
            pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
            description="Existing Secret (same namespace) with the access keys; omitted = anonymous.",
        )
        access_key_id_key: str = Field("AWS_ACCESS_KEY_ID", min_length=1, description="Key of the access key id.")
        secret_access_key_key: str = Field(
            "AWS_SECRET_ACCESS_KEY", min_length=1, description="Key of the secret access key."
        )
        image: str = Field(FETCH_S3_IMAGE, min_length=1, description="Image of the sync Job (needs aws and bash).")

    def weights(self, settings: "S3Source.Settings", plan: ModelPlan) -> WeightsPlan:
        url = settings.url if settings.url.endswith("/") else f"{settings.url}/"
        # A flat folder: a cache mounts the bucket at /<folder>, and nested mount points need parents.
        folder = settings.path if settings.path is not None else plan.name
        env: list[dict[str, Any]] = []
        access = secret = None
        if settings.credentials_secret:
            access = SecretKeyRef(settings.credentials_secret, settings.access_key_id_key)
            secret = SecretKeyRef(settings.credentials_secret, settings.secret_access_key_key)
            env = [access.env("AWS_ACCESS_KEY_ID"), secret.env("AWS_SECRET_ACCESS_KEY")]
        script = fetch_script(
            "fetch/s3.sh.j2",
            plan,
            folder,
            url=url,
            endpoint=settings.endpoint,
            region=settings.region,
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
        return fetched_weights(
            plan,
            settings,
            claim,
            folder,
            fetch_job(plan, claim.name, settings.image, script, env),
            f"{url} -> new claim {claim.name} ({settings.size})",
            mount=mount,
        )
