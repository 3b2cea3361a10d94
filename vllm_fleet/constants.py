"""Pinned versions, ports and label keys: one place, so templates and components agree."""

DEFAULT_IMAGE = "vllm/vllm-openai:v0.33.0"
API_PORT = 8000
API_KEY_SECRET = "vllm-api-key"
API_KEY_SECRET_KEY = "api-key"
API_KEY_ENV = "VLLM_API_KEY"
ENTRYPOINT_DIR = "/etc/vllm-fleet"
STATE_DIR = "/var/run/vllm-fleet"
WEIGHTS_MOUNT = "/models"
# Writable caches under a read-only root filesystem (an emptyDir).
CACHE_DIR = "/root/.cache"
# The pod volume that holds the weights; a cache swaps what it points at, never its name.
WEIGHTS_VOLUME = "weights"
# Written after the last file (first line: the source fetched); vLLM pods start only once it
# names the source they expect. A fetch in progress keeps its source in the second file.
WEIGHTS_MARKER = ".vllm-fleet-complete"
WEIGHTS_FETCHING = ".vllm-fleet-fetching"
# On a fetch Job's pod template and the vLLM pods: a source change replaces the Job and rolls the pods.
ANNOTATION_WEIGHTS_SOURCE = "vllm-fleet.io/weights-source"

# Fetch Jobs install nothing at run time (air-gapped clusters): huggingface fetches run on the
# model's own vLLM image (it ships the `hf` CLI, pinned by the image tag); s3 on a pinned aws-cli.
FETCH_S3_IMAGE = "amazon/aws-cli:2.17.0"
FETCH_UID = 1000
# Fetch pods' app.kubernetes.io/name: no selector of a group (Service, NetworkPolicy, PDB,
# StatefulSet) selects them, because those all select app.kubernetes.io/name=vllm.
FETCH_APP_NAME = "vllm-fleet-fetch"

# Fluid (data.fluid.io) and Multus (k8s.cni.cncf.io).
FLUID_API = "data.fluid.io/v1alpha1"
NAD_API = "k8s.cni.cncf.io/v1"
ANNOTATION_NETWORKS = "k8s.v1.cni.cncf.io/networks"
ANNOTATION_RESOURCE_NAME = "k8s.v1.cni.cncf.io/resourceName"
# RDMA pins memory; that is the one capability a fabric may add (no NET_ADMIN, no privileged).
NETWORK_CAPABILITIES = ("IPC_LOCK",)

# Ray binds random ports unless told otherwise; fixing them lets a NetworkPolicy
# admit exactly the group's own traffic.
RAY_PORTS = {
    "gcs": 6379,
    "node_manager": 6380,
    "object_manager": 6381,
    "runtime_env_agent": 6382,
    "dashboard_agent_grpc": 6383,
    "dashboard_agent_http": 52365,
    "metrics_export": 8080,
    "min_worker": 10002,
    "max_worker": 10999,
}

# Drain: vLLM's --shutdown-timeout lets in-flight requests finish after SIGTERM. The pod's
# grace period adds the endpoint delay (preStop) and this margin for vLLM's own teardown.
DRAIN_TEARDOWN_SECONDS = 45
# A Ray head gives `vllm serve` this long past the drain timeout before SIGKILL.
DRAIN_STOP_MARGIN_SECONDS = 20

# The endpoint picker (EPP) of an InferencePool: llm-d's router since it left the Gateway API
# inference extension (GIE v1.6.0); ports as its chart and GIE's `options.go` default them.
EPP_IMAGE = "ghcr.io/llm-d/llm-d-router-endpoint-picker:v0.10.0"
EPP_GRPC_PORT = 9002
EPP_GRPC_HEALTH_PORT = 9003
EPP_METRICS_PORT = 9090

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_VERSION = "app.kubernetes.io/version"
ANNOTATION_ENTRYPOINT_CHECKSUM = "vllm-fleet.io/entrypoint-checksum"
ANNOTATION_PULUMI_TIMEOUT = "pulumi.com/timeoutSeconds"
#: What pulumi-kubernetes (>= 4.18) awaits on a custom resource, which it otherwise treats as ready once created.
ANNOTATION_PULUMI_WAIT_FOR = "pulumi.com/waitFor"
ANNOTATION_PULUMI_SKIP_AWAIT = "pulumi.com/skipAwait"

# The StatefulSet controller adds `controller-revision-hash: <sts>-<10 chars>` to
# every pod; label values stop at 63 characters, so object names stay short.
MAX_MODEL_NAME = 40
# A Linux interface name (IFNAMSIZ 16 with the NUL), as a pattern for settings and the plan's check.
INTERFACE_NAME = r"^[a-zA-Z0-9_.-]{1,15}$"
#: The most groups a model may run (`replicas`, an autoscaler's `maxReplicas`).
MAX_REPLICAS = 1024
#: A host name, or a wildcard for its subdomains ("*.example.com"); never the catch-all "*"
#: (an HTTPRoute's or the KEDA interceptor's hosts: "*" would take every unmatched host).
HOSTNAME_PATTERN = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
