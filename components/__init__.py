"""vllm-fleet: multi-node vLLM on Kubernetes, as a Pulumi program.

Flow: config.py (stack config -> pydantic) -> plan.py (pure: GPUs, pods, names)
-> plugins (launchers, storage, ...) -> components (ModelStorage, VllmCluster)
-> render.py (the same program under Pulumi's mock monitor, offline).
"""
