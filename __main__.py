"""vllm-fleet: the Pulumi program.

stack config -> validated fleet -> plan -> components. Everything is validated
and planned before the first resource is registered, so a bad config registers
nothing. `vllm-fleet render` runs this same file under Pulumi's mock monitor.
"""

import pulumi

from vllm_fleet.config import load_fleet
from components.fleet import deploy
from vllm_fleet.plan import api_key_secret, plan_fleet, stack_addon_objects
from vllm_fleet.plugins import Registry
from vllm_fleet.priorities import priority_classes
from vllm_fleet.stack_config import read_stack_config

fleet = load_fleet(read_stack_config(), Registry.discover())
plans = plan_fleet(fleet)
for warning in (warning for plan in plans for warning in plan.warnings):
    pulumi.log.warn(warning)  # a tight KV cache, a skipped memory plan: `pulumi preview` shows them
pulumi.export(
    "models",
    deploy(fleet.config, plans, api_key_secret(fleet), stack_addon_objects(fleet, plans), priority_classes(fleet.config)),
)
pulumi.export("namespace", fleet.config.namespace)
# Price per GPU-hour by GPU type, as text (exact decimals): the plan table and the PR comment's cost read it.
pulumi.export("pricing", {name: str(price) for name, price in fleet.config.pricing.root.items()})
