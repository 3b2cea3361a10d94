"""The Pulumi layer of vllm-fleet: ComponentResources that register what the plan and plugins produced.

Flow: vllm_fleet.config (stack config -> pydantic) -> vllm_fleet.plan (pure: GPUs, role plans, names)
-> plugins (vllm_fleet.builtin, through vllm_fleet.sdk) -> these components (PluginObjects, VllmCluster)
-> vllm_fleet.render (the same program under Pulumi's mock monitor, offline).
"""
