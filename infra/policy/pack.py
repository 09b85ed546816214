"""The rules of rules.py as Pulumi resource validation policies."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from policy.rules import RULES, Rule, stack_of

PACK_NAME = "mlops-security"


def _validator(rule: Rule):
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != rule.resource_type:
            return
        for message in rule.check(args.props, stack_of(args.urn)):
            report_violation(f"{args.name}: {message}", None)

    return validate


POLICIES = [
    ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=_validator(rule),
        enforcement_level=EnforcementLevel.MANDATORY,
    )
    for rule in RULES
]
