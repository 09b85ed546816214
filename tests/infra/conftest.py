"""Both Pulumi programs run under pulumi.runtime.set_mocks (infra/offline.py):
no cloud, no Pulumi CLI. Their modules import each other from infra/ (and
infra/platform/), as Pulumi runs them."""

import sys
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parents[2] / "infra"
sys.path.insert(0, str(INFRA))

import offline  # noqa: E402

STACKS = ("dev", "staging", "prod")
_plans: dict[str, offline.Plan] = {}


def platform_plan() -> offline.Plan:
    """The committed platform stack's plan, run once per session."""
    if offline.PLATFORM_STACK not in _plans:
        _plans[offline.PLATFORM_STACK] = offline.run_platform()
    return _plans[offline.PLATFORM_STACK]


def platform_plan_if_run() -> offline.Plan | None:
    """The committed platform stack's plan if this session has run it already."""
    return _plans.get(offline.PLATFORM_STACK)


def plan_of(stack: str) -> offline.Plan:
    """The committed environment stack's plan (its StackReference answered by
    the platform plan), run once per session."""
    if stack not in _plans:
        _plans[stack] = offline.run_stack(stack, platform=platform_plan())
    return _plans[stack]


@pytest.fixture(params=STACKS)
def plan(request) -> offline.Plan:
    return plan_of(request.param)
