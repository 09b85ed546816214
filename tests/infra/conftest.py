"""The Pulumi program runs under pulumi.runtime.set_mocks (infra/offline.py):
no cloud, no Pulumi CLI. Its modules import each other from infra/, as
Pulumi runs them."""

import sys
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parents[2] / "infra"
sys.path.insert(0, str(INFRA))

import offline  # noqa: E402

STACKS = ("dev", "staging", "prod")
_plans: dict[str, offline.Plan] = {}


def plan_of(stack: str) -> offline.Plan:
    """The committed stack's plan, run once per session."""
    if stack not in _plans:
        _plans[stack] = offline.run_stack(stack)
    return _plans[stack]


@pytest.fixture(params=STACKS)
def plan(request) -> offline.Plan:
    return plan_of(request.param)
