"""Pinned versions, ports and label keys: one place, so templates and components agree."""

DEFAULT_IMAGE = "vllm/vllm-openai:v0.33.0"
API_PORT = 8000
API_KEY_SECRET = "vllm-api-key"
API_KEY_ENV = "VLLM_API_KEY"
ENTRYPOINT_DIR = "/etc/vllm-fleet"
STATE_DIR = "/var/run/vllm-fleet"
WEIGHTS_MOUNT = "/models"

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

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_VERSION = "app.kubernetes.io/version"
ANNOTATION_ENTRYPOINT_CHECKSUM = "vllm-fleet.io/entrypoint-checksum"
ANNOTATION_PULUMI_TIMEOUT = "pulumi.com/timeoutSeconds"

# The StatefulSet controller adds `controller-revision-hash: <sts>-<10 chars>` to
# every pod; label values stop at 63 characters, so object names stay short.
MAX_MODEL_NAME = 40
