"""vllm-fleet: multi-node vLLM on Kubernetes, as a Pulumi program.

Flow: config.py (stack config -> pydantic) -> plan.py (pure: GPUs, role plans, names)
-> plugins (launchers, storage, workloads, add-ons, ...; through sdk.py) -> components (PluginObjects, VllmCluster)
-> render.py (the same program under Pulumi's mock monitor, offline).
"""
