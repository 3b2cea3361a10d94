"""Cache plugins: the Fluid objects each runtime renders, how pods use them, and every bad input."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import pytest

from vllm_fleet.builtin.caches import AlluxioCache
from vllm_fleet.builtin.storage import NewClaim
from vllm_fleet.plugins import Registry
from vllm_fleet.sdk import MountSource
from .dataplane_support import ALLUXIO, config, issues, model, named, one_issue, plan, plans, pod_spec, render

JINDO = {"type": "jindo", "tiers": [{"medium": "SSD", "path": "/mnt/nvme/jindo", "quota": "100Gi"}]}
JUICEFS = {
    "type": "juicefs",
    "tiers": [{"medium": "SSD", "path": "/mnt/nvme/jfs", "quota": "100Gi"}],
    "mount": {
        "uri": "juicefs:///llm",
        "options": {"bucket": "https://minio.example:9000/jfs", "storage": "minio"},
        "secretOptions": {"metaurl": {"name": "jfs", "key": "metaurl"}},
    },
}
RUNTIMES = {"alluxio": ("AlluxioRuntime", ALLUXIO), "jindo": ("JindoRuntime", JINDO), "juicefs": ("JuiceFSRuntime", JUICEFS)}


@pytest.mark.parametrize("name", sorted(RUNTIMES))
def test_runtime_and_dataset_share_name_and_loads_point_at_it(name):
    kind, settings = RUNTIMES[name]
    cache = plan(config(model(cache=settings))).cache
    assert cache.runtime.kind == kind
    assert cache.runtime.name == cache.dataset.name == "llm-cache"
    assert cache.dataset.namespaced and cache.runtime.namespaced
    assert [load.body["spec"]["dataset"] for load in cache.loads if load.kind == "DataLoad"] == [{"name": "llm-cache", "namespace": "llm-test"}]
    assert cache.loads[-1].body["spec"]["policy"] == "Once"


def test_tiers_become_levels_with_quota_and_watermarks():
    settings = {**ALLUXIO, "replicas": 2, "tiers": [
        {"medium": "MEM", "quota": "8Gi"},
        {"medium": "SSD", "path": "/mnt/a,/mnt/b", "quota": "1Ti", "high": 0.9, "low": 0.5},
    ]}
    spec = plan(config(model(cache=settings))).cache.runtime.body["spec"]
    assert spec["replicas"] == 2
    assert spec["tieredstore"]["levels"] == [
        {"mediumtype": "MEM", "path": "/dev/shm", "quota": "8Gi", "high": "0.95", "low": "0.7"},
        {"mediumtype": "SSD", "path": "/mnt/a,/mnt/b", "quota": "1Ti", "high": "0.9", "low": "0.5"},
    ]


def test_cron_warmup_adds_a_second_dataload():
    settings = {**ALLUXIO, "warmup": {"schedule": "0 */6 * * *", "paths": ["/org"], "replicas": 2}}
    once, cron = [load for load in plan(config(model(cache=settings))).cache.loads if load.kind == "DataLoad"]
    assert cron.body["spec"]["policy"] == "Cron" and cron.body["spec"]["schedule"] == "0 */6 * * *"
    assert once.body["spec"]["target"] == [{"path": "/org", "replicas": 2}]
    assert plan(config(model(cache={**ALLUXIO, "warmup": {"once": False}}))).cache.loads == ()


def test_node_affinity_is_a_required_node_selector():
    settings = {**ALLUXIO, "nodeAffinity": [
        {"key": "pool", "operator": "In", "values": ["gpu"]},
        {"key": "cache-disk", "operator": "Exists"},
    ]}
    spec = plan(config(model(cache=settings))).cache.dataset.body["spec"]
    assert spec["nodeAffinity"] == {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "pool", "operator": "In", "values": ["gpu"]},
        {"key": "cache-disk", "operator": "Exists"},
    ]}]}}


def test_pvc_source_is_mounted_at_the_dataset_root():
    cache = plan(config(model(cache=ALLUXIO))).cache
    assert cache.dataset.body["spec"]["mounts"] == [{"name": "weights", "mountPoint": "pvc://llm-weights", "path": "/"}]


def test_pods_mount_the_dataset_claim_and_prefer_cache_nodes():
    planned = plan(config(model(cache=ALLUXIO)))
    assert planned.pod.volumes == ({"name": "weights", "persistentVolumeClaim": {"claimName": "llm-cache", "readOnly": True}},)
    assert planned.pod.volume_mounts == ({"name": "weights", "mountPath": "/models", "readOnly": True},)
    (preference,) = planned.pod.preferred_node_affinity
    assert preference["preference"]["matchExpressions"] == [
        {"key": "fluid.io/s-llm-test-llm-cache", "operator": "In", "values": ["true"]}
    ]
    assert planned.serve_args[0] == "/models/org/llm"  # the model path is unchanged by the cache
    # The raw claim is still created (the Dataset reads it).
    assert [o.kind for o in planned.weights.objects] == ["PersistentVolumeClaim"]


def test_rendered_pods_read_through_the_cache(tmp_path):
    rendered = render(tmp_path, config(model(cache=ALLUXIO)))
    named(rendered, "Dataset", "llm-cache")
    named(rendered, "AlluxioRuntime", "llm-cache")
    named(rendered, "DataLoad", "llm-cache-warmup")
    for role in ("head", "worker"):
        spec = pod_spec(named(rendered, "StatefulSet", f"llm-{role}"))
        weights = [v for v in spec["volumes"] if v["name"] == "weights"]
        assert weights == [{"name": "weights", "persistentVolumeClaim": {"claimName": "llm-cache", "readOnly": True}}]


def test_a_model_opts_out_of_the_default_cache():
    cached, uncached = plans(config(model(), model(name="raw", cache="none"), defaults={"cache": ALLUXIO}))
    assert cached.cache is not None and uncached.cache is None
    assert uncached.pod.volumes[0]["persistentVolumeClaim"]["claimName"] == "raw-weights"


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "tiers, path, expected",
    [
        ([{"medium": "MEM", "quota": "lots"}], "tiers[0].quota", "must be a Kubernetes quantity"),
        ([{"medium": "MEM", "quota": "0Gi"}], "tiers[0].quota", "positive size"),
        ([{"medium": "MEM", "quota": "1Gi", "high": 0.5, "low": 0.7}], "tiers[0]", "must be below high"),
        ([{"medium": "MEM", "quota": "1Gi", "high": 1.5}], "tiers[0].high", "less than or equal to 1"),
        ([{"medium": "SSD", "quota": "1Gi"}], "tiers[0]", "needs a path"),
        ([{"medium": "SSD", "path": "mnt/x", "quota": "1Gi"}], "tiers[0]", "absolute"),
        ([{"medium": "NVME", "quota": "1Gi"}], "tiers[0].medium", "must be 'MEM', 'SSD' or 'HDD'"),
        ([{"medium": "SSD", "path": "/a", "quota": "1Gi"}, {"medium": "MEM", "quota": "1Gi"}], "", "fastest first"),
        ([], "tiers", "must not be empty"),
    ],
)
def test_malformed_tiers_and_quotas(tiers, path, expected):
    key = "vllm-fleet:models[0].cache" + (f".{path}" if path else "")
    assert expected in one_issue(config(model(cache={**ALLUXIO, "tiers": tiers})), key)


def test_unsupported_mount_scheme_in_settings():
    settings = {**ALLUXIO, "mount": {"uri": "juicefs:///llm"}}
    assert "mounts only s3://, pvc://" in one_issue(config(model(cache=settings)), "vllm-fleet:models[0].cache")


def test_unsupported_mount_scheme_in_juicefs_settings():
    settings = {**JUICEFS, "mount": {"uri": "pvc://llm-weights"}}
    assert "mounts only juicefs://" in one_issue(config(model(cache=settings)), "vllm-fleet:models[0].cache")


class _FtpSource(NewClaim):
    """A third-party source whose origin no built-in runtime can mount."""

    name: ClassVar[str] = "ftp"

    def weights(self, settings, plan_):
        return replace(super().weights(settings, plan_), mount=MountSource(uri="ftp://host/llm/"))


def test_unsupported_mount_scheme_from_the_storage():
    registry = Registry.discover()
    registry.register(_FtpSource())
    raw = config(model(storage={"type": "ftp", "size": "1Gi"}, cache=ALLUXIO))
    found = issues(raw, registry)
    assert any(
        line.startswith("vllm-fleet:models[0].cache.mount.uri: AlluxioRuntime can't mount the storage's 'ftp://host/llm/'")
        for line in found
    ), found


def test_juicefs_needs_its_own_volume_and_one_tier_in_mib():
    no_mount = {k: v for k, v in JUICEFS.items() if k != "mount"}
    assert "juicefs:///" in one_issue(config(model(cache=no_mount)), "vllm-fleet:models[0].cache")
    tiny = {**JUICEFS, "tiers": [{"medium": "MEM", "quota": "512Ki"}]}
    assert "MiB" in one_issue(config(model(cache=tiny)), "vllm-fleet:models[0].cache")


def test_bad_cron_schedule_and_relative_warmup_path():
    bad = {**ALLUXIO, "warmup": {"schedule": "every six hours", "paths": ["models"]}}
    found = issues(config(model(cache=bad)))
    assert any("warmup.schedule: schedule must be a 5-field cron" in line for line in found)
    assert any("warmup.paths: paths are inside the Dataset" in line for line in found)


def test_node_affinity_operator_needs_values():
    bad = {**ALLUXIO, "nodeAffinity": [{"key": "pool", "operator": "In"}]}
    assert "needs values" in one_issue(config(model(cache=bad)), "vllm-fleet:models[0].cache.nodeAffinity[0]")


class _Miswired(AlluxioCache):
    """A third-party runtime that gets Fluid's pairing wrong in the ways the core must catch."""

    name: ClassVar[str] = "miswired"
    mistake: ClassVar[str] = ""

    def dataset(self, settings, plan_, weights):
        cache = super().dataset(settings, plan_, weights)
        if self.mistake == "runtime-name":
            return replace(cache, runtime=replace(cache.runtime, name="elsewhere"))
        if self.mistake == "runtime-namespace":
            return replace(cache, runtime=replace(cache.runtime, namespaced=False))
        if self.mistake == "dataload":
            load = cache.loads[0]
            body = {"spec": {**load.body["spec"], "dataset": {"name": "other", "namespace": "llm-test"}}}
            return replace(cache, loads=(replace(load, body=body),))
        if self.mistake == "scheme":
            spec = {**cache.dataset.body["spec"], "mounts": [{"name": "w", "mountPoint": "ftp://host/llm"}]}
            return replace(cache, dataset=replace(cache.dataset, body={"spec": spec}))
        return cache


@pytest.mark.parametrize(
    "mistake, path, expected",
    [
        ("runtime-name", "cache", "must share name and namespace"),
        ("runtime-namespace", "cache", "must share name and namespace"),
        ("dataload", "cache.warmup", "points at Dataset llm-test/other, not at its own llm-test/llm-cache"),
        ("scheme", "cache.mount.uri", "can't mount 'ftp://host/llm'"),
    ],
)
def test_core_checks_what_a_cache_plugin_returns(mistake, path, expected):
    plugin = type("Miswired", (_Miswired,), {"mistake": mistake})()
    registry = Registry.discover()
    registry.register(plugin)
    found = issues(config(model(cache={**ALLUXIO, "type": "miswired"})), registry)
    assert any(line.startswith(f"vllm-fleet:models[0].{path}: ") and expected in line for line in found), found
