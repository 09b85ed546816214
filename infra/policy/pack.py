"""The rules of rules.py as Pulumi resource validation policies.

A rule with config takes it from ``--policy-pack-config policy/config.json``;
Pulumi refuses to run the pack when a required value is missing.
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from policy.rules import RULES, Context, Rule, stack_of

PACK_NAME = "mlops-security"


def _validator(rule: Rule):
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in rule.resource_types:
            return
        context = Context(args.resource_type, stack_of(args.urn), args.get_config())
        for message in rule.check(args.props, context):
            report_violation(f"{args.name}: {message}", None)

    return validate


def _schema(rule: Rule) -> PolicyConfigSchema | None:
    if not rule.config_schema:
        return None
    properties = dict(rule.config_schema)
    return PolicyConfigSchema(properties=properties, required=list(properties))


POLICIES = [
    ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=_validator(rule),
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=_schema(rule),
    )
    for rule in RULES
]
