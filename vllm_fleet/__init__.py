"""vllm-fleet: everything but the Pulumi components (components/): config, plan, plugin SDK,
built-in plugins, the offline renderer, the preview tool and the CLI."""
