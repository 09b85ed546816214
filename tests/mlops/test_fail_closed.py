"""Fault sequences of the gate on the local target, as a user meets them: stopped
and lost endpoints, a rollback and an override, a reset registry and a first
deploy that fails. Everything runs for real (pipeline, MLflow registry, router,
scoring servers); the commands are `mlops.cli.main` in the project.

One model is trained for the module and served (``served_project.served``); each
test starts from an endpoint that serves a champion and leaves one serving (the
registry reset comes last: it is the one change the others could not build on).
"""

from __future__ import annotations

import os
import re
import shutil

from mlops import promotion
from mlops.audit import OVERRIDE_TAG
from mlops.summary import describe_endpoint
from mlops.targets.base import ROLLBACK_TAG, Endpoint
from tests.conftest import make_project
from tests.mlops.served_project import (
    ENDPOINT,
    MODEL,
    assert_serves,
    cannot_be_loaded,
    champion_alias,
    champion_auc,
    console,
    endpoint_processes,
    local,
    mlops,
    one_line_error,
    register_variant,
    serving_version,
    stop_everything,
)

# A stopped endpoint never lets a rejected model through, and `run` serves again.


def test_a_run_after_the_endpoint_was_stopped_is_gated_against_the_version_deployed_last(
    served,
):
    root = served.root
    champion = serving_version(root)
    code, out, err = mlops(root, "endpoint", "stop")
    assert code == 0, err
    assert f"endpoint {ENDPOINT} stopped" in out
    assert not endpoint_processes(root)

    # The same data, code and seed: a model merely as good as the champion.
    code, out, err = mlops(root, "run")
    assert code == 0, out + err
    _, target = local(root)
    newest = target.list_models()[0]
    assert f"model {newest.ref} registered; gate: reject" in out
    assert f"gate: REJECT (against champion {champion}; the version deployed last (" in out
    assert f"nothing serves now: endpoint {ENDPOINT} does not exist" in out
    assert "not higher by 0.001" in out
    assert f"nothing serves: deploying champion {champion} again" in out
    assert "the endpoint serves again its champion" in out
    assert f"deployed {MODEL}:{champion} to deployment" in out

    code, shown, _ = mlops(root, "endpoint", "show")
    assert code == 0
    assert f"{MODEL}:{champion}  100 %" in shown
    assert newest.ref not in shown
    assert_serves(root, champion)


# `mlops deploy` gates again; --rollback only returns to a version that served.


def test_deploy_gates_again_and_a_rollback_only_returns_to_a_version_that_served(served):
    root = served.root
    champion = serving_version(root)
    auc = champion_auc(root)
    as_good = register_variant(root, served.run, "as-good", auc)

    code, _, err = mlops(root, "deploy", as_good.version)
    assert code == 3
    refused = one_line_error(err)
    assert f"model {as_good.ref} does not pass the gate against champion {champion}" in refused
    assert "not higher by 0.001" in refused
    assert "--rollback" not in refused  # it never served: nothing to return to

    code, _, err = mlops(root, "deploy", as_good.version, "--rollback", "it looked fine")
    assert code == 1
    assert f"model {as_good.ref} never served on endpoint {ENDPOINT}" in one_line_error(err)
    assert_serves(root, champion)

    better = register_variant(root, served.run, "better", auc + 0.01)
    code, out, err = mlops(root, "deploy", better.version)
    assert code == 0, out + err
    assert f"gate: PROMOTE {better.ref} (against champion {champion})" in out
    assert_serves(root, better.version)
    assert champion_alias(root) == better.version

    # The old champion no longer beats the new one: only an explicit rollback returns to it.
    code, _, err = mlops(root, "deploy", champion)
    assert code == 3
    refused = one_line_error(err)
    assert f"does not pass the gate against champion {better.version}" in refused
    assert "to return to it anyway, pass --rollback REASON" in refused
    code, _, err = mlops(root, "deploy", champion, "--rollback", "  ")
    assert code == 1
    assert "--rollback needs a reason" in one_line_error(err)

    code, out, err = mlops(root, "deploy", champion, "--rollback", "worse on live traffic")
    assert code == 0, out + err
    assert f"deployed {MODEL}:{champion} to deployment" in out
    assert f"replacing {better.ref}" in out
    _, target = local(root)
    assert target.get_model(champion).tags[ROLLBACK_TAG].endswith(": worse on live traffic")
    assert ROLLBACK_TAG not in target.get_model(better.version).tags
    assert promotion.champion(target).version == champion
    assert champion_alias(root) == champion
    assert_serves(root, champion)

    # A human may replace the champion past the gate: with a reason, recorded with who.
    code, _, err = mlops(root, "deploy", as_good.version, "--override-gate", "")
    assert code == 1
    assert "--override-gate needs a reason" in one_line_error(err)
    assert_serves(root, champion)
    code, out, err = mlops(root, "deploy", as_good.version, "--override-gate", "fixes a bad tail")
    assert code == 0, out + err
    assert f"gate: REJECT, overridden (--override-gate) {as_good.ref}" in out
    assert "smoke test passed" in out
    _, target = local(root)
    recorded = target.get_model(as_good.version).tags[OVERRIDE_TAG]
    assert " by " in recorded and recorded.endswith(": fixes a bad tail")
    assert_serves(root, as_good.version)


# A reset registry: no number reused, no model taken for the one serving.


def test_after_a_registry_reset_the_gate_fails_closed_and_no_number_is_reused(served):
    root = served.root
    champion = serving_version(root)
    os.remove(root / ".mlops" / "mlflow.db")
    shutil.rmtree(root / ".mlops" / "mlartifacts", ignore_errors=True)

    # In a process of its own: this one keeps the deleted store open.
    code, out, err = console(root, "run")
    assert code == 0, out + err
    (version,) = re.findall(rf"model {MODEL}:(\d+) registered; gate: reject", out)
    assert int(version) > int(champion)
    assert (
        f"champion {champion}: metrics unreadable (the registry has no such version "
        "(was it reset?))" in out
    )
    assert "deploying champion" not in out
    assert "the endpoint keeps serving its champion" in out

    code, listed, _ = console(root, "models")
    assert code == 0
    (row,) = listed.splitlines()[2:]
    assert row.split()[:2] == [version, "reject"]
    assert not row.rstrip().endswith("serving")
    assert_serves(root, champion)


# A first deploy that fails leaves no endpoint behind.


def test_a_failed_first_deploy_leaves_no_endpoint(served, tmp_path):
    fresh = make_project(tmp_path)
    try:
        broken = register_variant(
            fresh, served.run, "first-broken", served.run.metrics["auc"], change=cannot_be_loaded
        )
        assert broken.version == "1"
        code, _, err = mlops(fresh, "deploy", "1")
        assert code == 1
        assert "the scoring server exited" in err
        assert not endpoint_processes(fresh)

        code, shown, err = mlops(fresh, "endpoint", "show")
        assert code == 0, err
        assert f"endpoint {ENDPOINT}: not created yet" in shown
        code, _, err = mlops(fresh, "endpoint", "start")
        assert code == 1
        assert f"endpoint {ENDPOINT} does not exist; deploy a model with" in one_line_error(err)
    finally:
        stop_everything(fresh)


def test_an_endpoint_without_deployments_is_shown_not_a_crash():
    # What a first deploy killed before it removed its endpoint leaves.
    shown = describe_endpoint(Endpoint(ENDPOINT, "", {}, ()), ENDPOINT)
    assert shown.startswith(f"endpoint {ENDPOINT}: (not running")
    assert "deployment  model" in shown
