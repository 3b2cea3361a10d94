"""Fluid caches: a Dataset over the model's weights, a cache runtime, and DataLoads that warm it.

The three runtimes share everything but their kind, the URI schemes they can
mount and the option names they give S3 credentials, so one base class builds
the objects and each plugin states only those differences. Pods never talk to
the runtime: `plan.py` mounts the Dataset's claim in place of the raw storage
and prefers the nodes Fluid labels as holding the cache, which matters more
than having a cache at all (see the README, Plugins).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, field_validator, model_validator

from ..sdk import (
    FLUID_API,
    CachePlan,
    DerivedName,
    ModelPlan,
    MountSource,
    ObjectSpec,
    PlanError,
    PluginSettings,
    PodAdditions,
    WeightsPlan,
    parse_quantity,
    read_through_cache,
)

_MEDIA = ("MEM", "SSD", "HDD")
# URI schemes each runtime can mount (Fluid's runtime docs); settings and plugin share them.
_ALLUXIO_SCHEMES = ("s3", "pvc", "local", "hdfs", "oss", "https", "http")
_JINDO_SCHEMES = ("s3", "oss", "hdfs", "pvc", "local")
_JUICEFS_SCHEMES = ("juicefs",)
# Standard 5-field cron (what Fluid's Cron policy takes) or a @-shortcut.
_CRON = re.compile(r"^(@(yearly|annually|monthly|weekly|daily|hourly)|([0-9*/,-]+\s+){4}[0-9*/,A-Za-z-]+)$")


class Tier(PluginSettings):
    medium: Literal["MEM", "SSD", "HDD"] = Field(description="Storage medium of this cache level.")
    path: Optional[str] = Field(
        None, description="Host folder(s), comma-separated; MEM defaults to /dev/shm, SSD and HDD need one."
    )
    quota: str = Field(description="Cache size of this level on each cache worker, e.g. 200Gi.")
    high: float = Field(0.95, gt=0, le=1, description="High watermark: eviction starts above this fraction.")
    low: float = Field(0.7, gt=0, le=1, description="Low watermark: eviction stops below this fraction.")

    @field_validator("quota")
    @classmethod
    def _quota(cls, value: Any) -> str:
        try:
            size = parse_quantity(value)
        except ValueError as error:
            raise ValueError(f"quota {error}") from None
        if size <= 0:
            raise ValueError(f"quota must be a positive size like 100Gi, got {value!r}")
        return str(value)

    @model_validator(mode="after")
    def _check(self) -> "Tier":
        if self.low >= self.high:
            raise ValueError(f"low watermark ({self.low}) must be below high ({self.high})")
        if self.path is None and self.medium != "MEM":
            raise ValueError(f"a {self.medium} tier needs a path (a host folder on that medium)")
        if self.path is not None and not all(p.startswith("/") for p in self.path.split(",")):
            raise ValueError(f"path must be absolute folder(s), comma-separated; got {self.path!r}")
        return self

    def level(self) -> dict[str, Any]:
        return {
            "mediumtype": self.medium,
            "path": self.path or "/dev/shm",
            "quota": self.quota,
            "high": f"{self.high:g}",
            "low": f"{self.low:g}",
        }


class Warmup(PluginSettings):
    once: bool = Field(True, description="Load the whole Dataset once, when it is created.")
    schedule: Optional[str] = Field(
        None, description="Cron schedule of a recurring load (e.g. '0 */6 * * *'); omitted = none."
    )
    paths: list[str] = Field(default_factory=lambda: ["/"], min_length=1, description="Dataset paths to load.")
    replicas: int = Field(1, gt=0, description="Cache copies of each loaded file.")
    load_metadata: bool = Field(True, description="Sync metadata first (new files in the source).")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _CRON.match(value.strip()):
            raise ValueError(f"schedule must be a 5-field cron expression like '0 */6 * * *', got {value!r}")
        return value

    @field_validator("paths")
    @classmethod
    def _absolute(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not p.startswith("/")]
        if bad:
            raise ValueError(f"paths are inside the Dataset and start with '/'; got {bad}")
        return value


class NodeRequirement(PluginSettings):
    key: str = Field(min_length=1, description="Node label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] = Field(description="Match operator.")
    values: list[str] = Field(default_factory=list, description="Values for In/NotIn (one number for Gt/Lt).")

    @model_validator(mode="after")
    def _values(self) -> "NodeRequirement":
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        if self.operator not in ("Exists", "DoesNotExist") and not self.values:
            raise ValueError(f"operator {self.operator} needs values")
        return self


class SecretOption(PluginSettings):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", description="Secret in the model's namespace.")
    key: str = Field(min_length=1, description="Key inside the Secret.")


class Mount(PluginSettings):
    uri: str = Field(description="Fluid mount point with its scheme, e.g. juicefs:///models or s3://bucket/llama/.")
    path: str = Field("/", description="Where it appears inside the Dataset (and so under /models).")
    options: dict[str, str] = Field(default_factory=dict, description="Runtime mount options.")
    secret_options: dict[str, SecretOption] = Field(
        default_factory=dict, description="Options read from Secrets (credentials): {option: {name, key}}."
    )


class CacheSettings(PluginSettings):
    """Settings every Fluid runtime shares; `_schemes` is set by each runtime's subclass."""

    _schemes: ClassVar[tuple[str, ...]] = ()

    replicas: int = Field(1, gt=0, description="Cache workers; give each group pod one so all read locally.")
    tiers: list[Tier] = Field(min_length=1, description="Tiered store, fastest first: MEM, SSD, HDD.")
    node_affinity: list[NodeRequirement] = Field(
        default_factory=list, description="Nodes the cache may live on (all must match)."
    )
    placement: Literal["Exclusive", "Shared"] = Field(
        "Shared", description="Shared lets caches of several models share a node (Fluid's default is Exclusive)."
    )
    warmup: Warmup = Field(default_factory=Warmup, description="DataLoads that fill the cache before pods read.")
    mount: Optional[Mount] = Field(None, description="Read from here instead of the model's storage.")

    @model_validator(mode="after")
    def _check(self) -> "CacheSettings":
        media = [tier.medium for tier in self.tiers]
        if len(set(media)) != len(media) or media != sorted(media, key=_MEDIA.index):
            raise ValueError(f"tiers must be distinct media, fastest first (MEM, SSD, HDD); got {media}")
        if self.mount is not None:
            scheme = self.mount.uri.split("://", 1)[0] if "://" in self.mount.uri else ""
            if scheme not in self._schemes:
                supported = ", ".join(f"{s}://" for s in self._schemes)
                raise ValueError(f"mount.uri {self.mount.uri!r}: this runtime mounts only {supported}")
        return self


class FluidCache:
    """Base of the built-in runtimes: one Dataset, one runtime of the same name, DataLoads."""

    kind: ClassVar[str] = "cache"
    name: ClassVar[str]
    runtime_kind: ClassVar[str]
    schemes: ClassVar[tuple[str, ...]]
    Settings: ClassVar[type[CacheSettings]]
    #: Option names for an s3:// source: endpoint, region, access key id, secret key.
    s3_option_names: ClassVar[Optional[tuple[str, str, str, str]]] = None
    #: Extra options whenever an endpoint is set (S3-compatible stores).
    s3_endpoint_extras: ClassVar[dict[str, str]] = {}
    #: (kind, suffix) of the workloads Fluid names `<runtime name><suffix>` (its engine's get*Name()).
    workloads: ClassVar[tuple[tuple[str, str], ...]]

    def derived_names(self, plan: ModelPlan, name: str, loads: tuple[ObjectSpec, ...]) -> tuple[DerivedName, ...]:
        """What Fluid makes: the runtime's workloads, the Dataset's claim and volume, each DataLoad's loader."""
        made_by = f"Fluid's {self.runtime_kind}"
        names = [DerivedName(kind, f"{name}{suffix}", made_by) for kind, suffix in self.workloads]
        names += [
            DerivedName("PersistentVolumeClaim", name, "Fluid's Dataset"),
            DerivedName("PersistentVolume", f"{plan.namespace}-{name}", "Fluid's Dataset", namespaced=False),
        ]
        for load in loads:
            # A Once DataLoad runs a Job, a Cron one a CronJob, both named `<DataLoad>-loader-job`.
            kind = "CronJob" if load.body["spec"].get("policy") == "Cron" else "Job"
            names.append(DerivedName(kind, f"{load.name}-loader-job", "Fluid's DataLoad"))
        return tuple(names)

    def s3_options(self, source: MountSource) -> tuple[dict[str, str], dict[str, Any]]:
        """(options, secret options) for an s3:// source; each runtime names them its own way."""
        if self.s3_option_names is None:
            raise PlanError(("cache", "mount"), f"{self.runtime_kind} can't read s3:// sources")
        endpoint, region, access, secret = self.s3_option_names
        options = {}
        if source.endpoint:
            options = {endpoint: source.endpoint, **self.s3_endpoint_extras}
        if source.region:
            options[region] = source.region
        refs = ((access, source.access_key_id), (secret, source.secret_access_key))
        return options, {option: {"name": ref.name, "key": ref.key} for option, ref in refs if ref is not None}

    def runtime_spec(self, settings: CacheSettings) -> dict[str, Any]:
        return {"replicas": settings.replicas, "tieredstore": {"levels": [tier.level() for tier in settings.tiers]}}

    def _mount(self, settings: CacheSettings, weights: WeightsPlan) -> dict[str, Any]:
        if settings.mount is not None:
            mount = settings.mount
            return _mount_entry(mount.uri, mount.path, mount.options, {
                option: {"name": ref.name, "key": ref.key} for option, ref in mount.secret_options.items()
            })
        source = weights.mount
        if source is None:
            raise PlanError(("cache",), f"{self.runtime_kind} can't read this storage ({weights.description}); set cache.mount")
        if source.scheme not in self.schemes:
            supported = ", ".join(f"{s}://" for s in self.schemes)
            raise PlanError(
                ("cache", "mount", "uri"),
                f"{self.runtime_kind} can't mount the storage's {source.uri!r} (supported: {supported}); "
                "set cache.mount to a location it can read",
            )
        options, secrets = self.s3_options(source) if source.scheme == "s3" else ({}, {})
        return _mount_entry(source.uri, source.path, options, secrets)

    def dataset(self, settings: CacheSettings, plan: ModelPlan, weights: WeightsPlan) -> CachePlan:
        name = plan.names.dataset
        labels = plan.labels("cache")
        spec: dict[str, Any] = {
            "mounts": [self._mount(settings, weights)],
            # Serving only reads; Fluid's claim takes these access modes.
            "accessModes": ["ReadOnlyMany"],
            "placement": settings.placement,
        }
        if settings.node_affinity:
            expressions = [r.model_dump(exclude_defaults=False) for r in settings.node_affinity]
            spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {k: v for k, v in e.items() if v or k != "values"} for e in expressions
            ]}]}}
        dataset = ObjectSpec(FLUID_API, "Dataset", name, {"spec": spec}, labels=labels)
        runtime = ObjectSpec(FLUID_API, self.runtime_kind, name, {"spec": self.runtime_spec(settings)}, labels=labels)
        # Wait for the claim only where the Dataset reads it (not a bucket, not an explicit mount).
        loads = _loads(settings.warmup, plan, name, labels, None if weights.remote or settings.mount else weights.fill_check)
        cache = CachePlan(
            dataset=dataset,
            runtime=runtime,
            loads=loads,
            schemes=self.schemes,
            description=f"{self.runtime_kind} ×{settings.replicas} ({'+'.join(t.medium for t in settings.tiers)})",
            derived_names=self.derived_names(plan, name, loads),
        )
        return replace(cache, weights=read_through_cache(weights, cache, plan.namespace))


def _mount_entry(uri: str, path: str, options: dict[str, str], secrets: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": "weights", "mountPoint": uri, "path": path}
    if options:
        entry["options"] = dict(options)
    if secrets:
        entry["encryptOptions"] = [
            {"name": option, "valueFrom": {"secretKeyRef": ref}} for option, ref in sorted(secrets.items())
        ]
    return entry


def _loads(
    warmup: Warmup, plan: ModelPlan, dataset: str, labels: dict[str, str], fill_check: Optional[PodAdditions]
) -> tuple[ObjectSpec, ...]:
    """The warm-up DataLoads; with a claim that is still being filled, the `Once` load runs after
    a DataProcess that waits (bounded, logged) for its completion marker, so it never warms an empty claim."""
    base = {
        "dataset": {"name": dataset, "namespace": plan.namespace},
        "loadMetadata": warmup.load_metadata,
        "target": [{"path": path, "replicas": warmup.replicas} for path in warmup.paths],
    }
    loads = []
    if warmup.once:
        once = {**base, "policy": "Once"}
        if fill_check is not None:
            gate = _weights_filled(plan, dataset, labels, fill_check)
            loads.append(gate)
            once["runAfter"] = {"apiVersion": FLUID_API, "kind": "DataProcess", "name": gate.name, "namespace": plan.namespace}
        loads.append(ObjectSpec(FLUID_API, "DataLoad", f"{dataset}-warmup", {"spec": once}, labels=labels))
    if warmup.schedule:
        spec = {**base, "policy": "Cron", "schedule": warmup.schedule}
        loads.append(ObjectSpec(FLUID_API, "DataLoad", f"{dataset}-warmup-cron", {"spec": spec}, labels=labels))
    return tuple(loads)


def _weights_filled(plan: ModelPlan, dataset: str, labels: dict[str, str], fill_check: PodAdditions) -> ObjectSpec:
    """A Fluid DataProcess whose pod is the vLLM pods' own wait for the marker, on the raw claim.

    It reads the claim, not the Dataset: a cache's metadata may not show a marker written later.
    Fluid mounts the Dataset too (at /fluid-dataset); the wait does not read it.
    """
    pod_spec = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": list(fill_check.init_containers),
        "volumes": list(fill_check.volumes),
    }
    spec = {
        "dataset": {"name": dataset, "namespace": plan.namespace, "mountPath": "/fluid-dataset"},
        "processor": {"job": {"podSpec": pod_spec}},
    }
    return ObjectSpec(FLUID_API, "DataProcess", f"{dataset}-ready", {"spec": spec}, labels=labels)


class AlluxioCache(FluidCache):
    name: ClassVar[str] = "alluxio"
    runtime_kind: ClassVar[str] = "AlluxioRuntime"
    schemes: ClassVar[tuple[str, ...]] = _ALLUXIO_SCHEMES
    workloads: ClassVar[tuple[tuple[str, str], ...]] = (
        ("StatefulSet", "-master"), ("StatefulSet", "-worker"), ("DaemonSet", "-fuse")
    )

    s3_option_names: ClassVar[tuple[str, str, str, str]] = (
        "alluxio.underfs.s3.endpoint", "alluxio.underfs.s3.endpoint.region", "aws.accessKeyId", "aws.secretKey"
    )
    # S3-compatible stores usually want path-style bucket addressing.
    s3_endpoint_extras: ClassVar[dict[str, str]] = {"alluxio.underfs.s3.disable.dns.buckets": "true"}

    class Settings(CacheSettings):
        _schemes: ClassVar[tuple[str, ...]] = _ALLUXIO_SCHEMES


class JindoCache(FluidCache):
    name: ClassVar[str] = "jindo"
    runtime_kind: ClassVar[str] = "JindoRuntime"
    schemes: ClassVar[tuple[str, ...]] = _JINDO_SCHEMES
    workloads: ClassVar[tuple[tuple[str, str], ...]] = (
        ("StatefulSet", "-jindofs-master"), ("StatefulSet", "-jindofs-worker"), ("DaemonSet", "-jindofs-fuse")
    )

    s3_option_names: ClassVar[tuple[str, str, str, str]] = (
        "fs.s3.endpoint", "fs.s3.region", "fs.s3.accessKeyId", "fs.s3.accessKeySecret"
    )

    class Settings(CacheSettings):
        _schemes: ClassVar[tuple[str, ...]] = _JINDO_SCHEMES


class JuiceFSCache(FluidCache):
    """JuiceFS caches a JuiceFS volume only, so `mount` (juicefs:///...) is required."""

    name: ClassVar[str] = "juicefs"
    runtime_kind: ClassVar[str] = "JuiceFSRuntime"
    schemes: ClassVar[tuple[str, ...]] = _JUICEFS_SCHEMES
    # JuiceFS has no master: its metadata engine lives outside the cluster.
    workloads: ClassVar[tuple[tuple[str, str], ...]] = (("StatefulSet", "-worker"), ("DaemonSet", "-fuse"))

    class Settings(CacheSettings):
        _schemes: ClassVar[tuple[str, ...]] = _JUICEFS_SCHEMES

        @model_validator(mode="after")
        def _juicefs(self) -> "JuiceFSCache.Settings":
            if self.mount is None:
                raise ValueError("JuiceFS caches a JuiceFS volume: set mount.uri: juicefs:///<dir> with its metaurl secret")
            if len(self.tiers) != 1:
                raise ValueError(f"JuiceFSRuntime uses one cache tier, got {len(self.tiers)}")
            # JuiceFS sizes its cache in MiB: anything smaller rounds to no cache at all.
            if parse_quantity(self.tiers[0].quota) < 2**20:
                raise ValueError(f"JuiceFS sizes its cache in MiB; quota {self.tiers[0].quota!r} is less than 1Mi")
            return self
