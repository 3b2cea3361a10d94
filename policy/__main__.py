"""Entry point the Pulumi CLI runs: PolicyPack() serves the policies over gRPC and blocks."""
from pulumi_policy import EnforcementLevel, PolicyPack
from vllm_fleet_policies import POLICIES

PolicyPack(name="vllm-fleet-security", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
