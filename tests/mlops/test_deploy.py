"""Register, deploy and score on the local target, with real scoring servers.

One model is trained for the module; the tests then deploy it, break it and
swap it, in order, against the same endpoint.
"""

import contextlib
import json
import os
import signal
import threading
import urllib.error
import urllib.request
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import wasserstein_distance

from mlops import lifecycle, model_card, promotion
from mlops.deploy import request_body, smoke_rows
from mlops.gate import Champion, decide
from mlops.monitoring.monitor import monitor
from mlops.monitoring.replay import Shift, replay
from mlops.settings import load_settings
from mlops.targets import get_target
from mlops.targets.base import DeploymentError
from mlops.targets.local.endpoint import processes
from tests.conftest import (
    STATE,
    copy_project,
    free_port,
    save_variant_run,
    stop_endpoints,
    wait_until,
)
from tests.mlops.targets.local.endpoint.conftest import environ_of


@pytest.fixture(scope="module")
def served(tmp_path_factory, trained_template):
    """A copy of the session's trained project whose model is registered, promoted
    and serving."""
    project = copy_project(trained_template, tmp_path_factory.mktemp("served"))
    settings = load_settings(project / "mlops.yml")
    target = get_target(settings)
    run = target.get_run("latest")
    model, decision, _ = lifecycle.register(target, settings, run.run_id)
    assert decision.promote, decision.failed()
    # Secrets a CI job exports: the deploy must not hand them to the servers it starts.
    planted = {k: v for k, v in SECRETS.items() if k not in os.environ}
    os.environ.update(planted)
    try:
        lifecycle.deploy(target, settings, model.version, lambda line: None)
    finally:
        for name in planted:
            del os.environ[name]
    try:
        yield project, settings, target, run
    finally:
        stop_endpoints(project)


SECRETS = {"AZURE_CLIENT_SECRET": "planted-client-secret", "GITHUB_TOKEN": "planted-token"}


def post(url: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def register_variant(target, settings, run, name, change=None, verdict_promote=True):
    """Register a copy of ``run``'s model (changed by ``change``) as a new version.

    A variant that should promote is recorded with an AUC 0.01 above ``run``'s,
    so it beats that champion by the gate's margin; one that should not, with 0.1."""
    auc = run.metrics["auc"] + 0.01 if verdict_promote else 0.1
    variant = save_variant_run(target, settings, run, name, auc, change)
    decision = decide(variant.metrics, None, settings.gate)
    assert decision.promote is verdict_promote
    return promotion.register(target, settings, variant, decision)


def test_the_promoted_model_serves_through_the_endpoint(served):
    _, settings, target, _ = served
    endpoint = target.get_endpoint()
    assert endpoint.traffic == {"blue": 100}
    assert endpoint.serving().model == "credit-default-classifier:1"
    rows = smoke_rows(target, settings, target.get_model("1"))
    status, answer = post(endpoint.scoring_uri, request_body(rows.head(3)))
    assert status == 200
    assert len(answer["probabilities"]) == 3
    assert answer["predictions"] == [int(p >= 0.5) for p in answer["probabilities"]]


def collected(project, settings, collection: str) -> list[tuple[str, dict]]:
    """(path under the deployment's folder, record) of each line collected as ``collection``."""
    root = project / STATE / "collected" / settings.endpoint.name / "blue"
    return [
        (str(path.relative_to(root)), json.loads(line))
        for path in sorted((root / collection).rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_what_the_endpoint_serves_is_collected_where_and_as_azure_writes_it(served):
    project, settings, target, _ = served
    rows = smoke_rows(target, settings, target.get_model("1")).tail(3)
    status, answer = post(target.get_endpoint().scoring_uri, request_body(rows))
    assert status == 200

    def inputs() -> list[dict]:  # this request's: the rows it sent, as the model took them
        sent = rows.to_dict("records")
        return [r for _, r in collected(project, settings, "model_inputs") if r["data"] == sent]

    def outputs() -> list[tuple[str, dict]]:  # its answer's, joined by correlation id
        (request,) = inputs()
        joined = request["correlationid"]
        return [(p, r) for p, r in collected(project, settings, "model_outputs")
                if r["correlationid"] == joined]  # fmt: skip

    wait_until(inputs, what="the request's inputs to be collected")
    wait_until(outputs, what="its answer to be collected")
    ((path, record),) = outputs()
    assert record["data"] == [
        {"prediction": p, "probability": pytest.approx(q)}
        for p, q in zip(answer["predictions"], answer["probabilities"], strict=True)
    ]
    assert record["type"] == "azureml.inference.model_outputs"
    hour = record["time"][:13].replace("-", "/").replace("T", "/")
    assert path.startswith(f"model_outputs/{hour}/") and path.endswith(".jsonl")


def test_the_scoring_servers_get_none_of_the_callers_secrets(served):
    _, _, target, _ = served
    pids = processes.find(target.endpoint.server_marker("blue"))
    assert pids
    for pid in pids:
        environ = environ_of(pid)
        assert not set(SECRETS) & set(environ)
        assert not any(secret in value for secret in SECRETS.values() for value in environ.values())
        assert "AZUREML_MODEL_DIR" in environ  # what the deployment contract names does pass


def test_the_champion_is_the_serving_model_with_its_metrics(served):
    _, _, target, run = served
    champion = promotion.champion(target)
    metrics = {k: pytest.approx(v) for k, v in run.metrics.items()}
    assert champion == Champion("1", metrics, task=champion.task)
    assert champion.task.label() == "default_payment_next_month = 1"
    assert "AGE" in champion.task.features and "SEX" not in champion.task.features


def missing_column(rows):
    return request_body(rows.drop(columns=["AGE"]))


def wrong_type(rows):
    split = json.loads(request_body(rows))
    split["input_data"]["data"][0][0] = "SECRET-VALUE"
    return json.dumps(split).encode()


def nan_value(rows):
    split = json.loads(request_body(rows))
    split["input_data"]["data"][0][0] = float("nan")
    return json.dumps(split).encode()  # Python writes NaN, as some clients do


def too_many_rows(rows):
    return request_body(rows.sample(1001, replace=True, random_state=0))


BAD_PAYLOADS = {
    "missing column": (missing_column, 400, "missing column(s): AGE"),
    "wrong type": (wrong_type, 400, "column LIMIT_BAL, row 0: expected an integer"),
    "NaN": (nan_value, 400, "NaN is not allowed"),
    "empty": (lambda rows: b"", 400, "request body is empty"),
    "no rows": (lambda rows: request_body(rows.head(0)), 400, "input_data has no rows"),
    "too large": (too_many_rows, 413, "at most 1000 per request"),
    "not JSON": (lambda rows: b"{'input_data': ", 400, "not valid JSON"),
}


@pytest.mark.parametrize("case", BAD_PAYLOADS, ids=list(BAD_PAYLOADS))
def test_a_bad_payload_gets_a_client_error_that_says_what_is_wrong(served, case):
    _, settings, target, _ = served
    make, status, message = BAD_PAYLOADS[case]
    rows = smoke_rows(target, settings, target.get_model("1"))
    code, answer = post(target.get_endpoint().scoring_uri, make(rows))
    assert code == status
    assert message in answer["message"]
    assert "SECRET-VALUE" not in answer["message"]
    assert "Traceback" not in answer["message"]


def test_a_rejected_model_cannot_be_deployed(served):
    _, settings, target, run = served
    rejected = register_variant(target, settings, run, "rejected", verdict_promote=False)
    with pytest.raises(promotion.PromotionError, match="does not pass the gate against champion 1"):
        lifecycle.deploy(target, settings, rejected.version, lambda line: None)
    assert target.get_endpoint().traffic == {"blue": 100}


def expects_other_columns(model_dir):
    # A model whose contract names a feature the data never had: every row is refused.
    spec = yaml.safe_load((model_dir / "MLmodel").read_text())
    spec["signature"]["inputs"] = spec["signature"]["inputs"].replace('"AGE"', '"AGE_YEARS"')
    (model_dir / "MLmodel").write_text(yaml.safe_dump(spec))
    contract = json.loads((model_dir / "data_contract.json").read_text())
    contract["features"] = ["AGE_YEARS" if f == "AGE" else f for f in contract["features"]]
    (model_dir / "data_contract.json").write_text(json.dumps(contract))


def cannot_be_loaded(model_dir):
    (model_dir / "model.skops").write_bytes(b"not a model")


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        (expects_other_columns, "smoke test of deployment green: HTTP 400"),
        (cannot_be_loaded, "the scoring server exited"),
    ],
)
def test_a_broken_model_is_rolled_back_and_the_old_one_keeps_serving(served, breakage, reason):
    project, settings, target, run = served
    broken = register_variant(target, settings, run, breakage.__name__, change=breakage)
    before = target.get_endpoint()
    # Past the gate (which refuses a model of other columns), the smoke test still runs.
    with pytest.raises(DeploymentError, match=reason):
        lifecycle.deploy(target, settings, broken.version, print, override="smoke test it")
    after = target.get_endpoint()
    assert after.traffic == before.traffic == {"blue": 100}
    assert [d.name for d in after.deployments] == ["blue"]
    assert after.serving().model == "credit-default-classifier:1"
    assert not (project / STATE / "endpoints" / "credit-default" / "deployments" / "green").exists()
    status, _ = post(after.scoring_uri, request_body(smoke_rows(target, settings, broken)))
    assert status == 200


def test_a_model_that_takes_other_columns_is_refused_at_the_gate_naming_them(served):
    _, settings, target, run = served
    other = register_variant(target, settings, run, "other-columns", change=expects_other_columns)
    with pytest.raises(promotion.NotBetterThanChampion) as refused:
        lifecycle.deploy(target, settings, other.version, lambda line: None)
    message = str(refused.value)
    assert "task changed: the candidate needs column AGE_YEARS" in message
    assert "refuses column AGE, which champion 1's callers send" in message
    assert "make it a new model (`mlops new-model" in message and "--replace-task REASON" in message
    assert target.get_endpoint().serving().model == "credit-default-classifier:1"


def test_a_blue_green_swap_never_fails_a_request(served):
    _, settings, target, run = served
    newer = register_variant(target, settings, run, "newer")
    url = target.get_endpoint().scoring_uri
    body = request_body(smoke_rows(target, settings, newer).head(1))
    results: list[tuple[int, str]] = []
    done = threading.Event()

    def score_in_a_loop():
        while not done.is_set():
            request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    results.append((answer.status, answer.headers["azureml-model-deployment"]))
            except (urllib.error.HTTPError, OSError) as error:
                results.append((getattr(error, "code", 0), str(error)))

    client = threading.Thread(target=score_in_a_loop)
    client.start()
    try:
        result = lifecycle.deploy(target, settings, newer.version, lambda line: None)
    finally:
        done.set()
        client.join()
    assert result.deployment == "green"
    assert result.replaced == "credit-default-classifier:1"
    failed = [r for r in results if r[0] != 200]
    assert not failed, failed[:5]
    served_by = [name for _, name in results]
    assert "blue" in served_by and served_by[-1] == "green"
    endpoint = target.get_endpoint()
    assert endpoint.traffic == {"green": 100}
    assert [d.name for d in endpoint.deployments] == ["green"]
    assert promotion.champion(target).version == newer.version


def test_an_endpoint_whose_processes_died_comes_back_as_deployed(served):
    _, settings, target, _ = served
    before = target.get_endpoint()
    endpoint = target.endpoint
    markers = [
        endpoint.router_marker,
        *(endpoint.server_marker(d.name) for d in before.deployments),
    ]
    for marker in markers:  # what a reboot does to them
        for pid in processes.find(marker):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: not any(processes.find(marker) for marker in markers))
    down = target.get_endpoint()
    assert down.scoring_uri == ""
    assert all(d.state.startswith("Failed") for d in down.deployments)
    shown: list[str] = []
    lifecycle.start_endpoint(target, settings, shown.append)
    after = target.get_endpoint()
    assert after.traffic == before.traffic
    assert [(d.name, d.model, d.state) for d in after.deployments] == [
        (d.name, d.model, "Succeeded") for d in before.deployments
    ]
    assert any("not running; starting" in line for line in shown)
    rows = smoke_rows(target, settings, target.get_model(after.serving().model.split(":")[1]))
    status, answer = post(after.scoring_uri, request_body(rows.head(2)))
    assert status == 200 and len(answer["probabilities"]) == 2


def in_environment(project, name: str):
    """The project's settings and target in environment ``name`` (its own state and
    a free port), as `mlops --env NAME` works."""
    path = project / "mlops.yml"
    written = yaml.safe_load(path.read_text())
    written["environments"] = {
        **written.get("environments", {}),
        name: {"endpoint_port": free_port()},
    }
    path.write_text(yaml.safe_dump(written, sort_keys=False))
    settings = load_settings(path, env=name)
    return settings, get_target(settings)


def test_a_promoted_version_serves_the_same_bytes_in_another_environment(served):
    project, settings, target, run = served
    dev_model = target.find_model(run.run_id)

    promoted = lifecycle.promote(target, settings, dev_model.version)

    assert promoted.digest == dev_model.digest
    assert promoted.run_id == run.run_id
    assert promoted.tags["mlops.source_version"] == dev_model.ref
    assert promoted.tags["mlops.gate_report"].endswith(f"reports/{run.run_id}/gate.md")
    assert lifecycle.promote(target, settings, dev_model.version).version == promoted.version

    staging, staging_target = in_environment(project, "staging")
    try:
        lifecycle.deploy(staging_target, staging, f"registry:{promoted.ref}", lambda line: None)
        serving = staging_target.get_endpoint().serving()
        # The very files gated in dev, with their lineage; staging never trained.
        assert serving.model_digest == dev_model.digest
        model = staging_target.get_model(serving.model.rpartition(":")[2])
        assert model.run_id == run.run_id and model.tags["mlops.gate"] == "promote"
        assert staging_target.list_runs() == []
        status, answer = post(
            staging_target.get_endpoint().scoring_uri, lifecycle.read_request(staging, None)
        )
        assert status == 200 and len(answer["probabilities"]) == 2

        # Staging monitors what it serves against dev's training rows: the promotion
        # carried them (staging holds no run of its own).
        (train_file,) = target.output_path(run, "train_data").glob("*.parquet")
        trained = pd.read_parquet(train_file).drop(columns=["default_payment_next_month", "SEX"])
        sent = replay(staging_target, staging, [Shift.parse("LIMIT_BAL*3"),
                                                Shift.parse("AGE+15")], rows=300)  # fmt: skip
        assert (sent.collected, sent.split) == (300, "training")
        since = datetime.fromisoformat(sent.since.replace("Z", "+00:00"))
        monitored = monitor(staging_target, staging, since=since)
        assert monitored.report.nothing_judged is None
        assert monitored.report.baseline_rows == len(trained)
        assert {"LIMIT_BAL", "AGE"} <= set(monitored.report.breached_features)
        measured = {(m.feature, m.metric): m.value for m in monitored.report.measured}
        # What replay sent: the baseline's first rows, shifted.
        limit = trained["LIMIT_BAL"].to_numpy(float)
        expected = wasserstein_distance(limit, limit[:300] * 3) / np.std(limit, ddof=1)
        assert measured[("LIMIT_BAL", "normalized_wasserstein_distance")] == pytest.approx(
            expected, rel=1e-9
        )
        # The model card came with it: dev's, with staging's own deploy.
        card = model_card.markdown(model_card.build(staging_target, staging, model))
        assert f"# Model card: {model.ref}" in card and "Permutation importance (roc_auc)" in card
        assert f"run `{run.run_id}`" in card and f"promoted from {dev_model.ref}" in card
        assert "deploy (blue) by " in card
    finally:
        staging_target.delete_endpoint()


def test_a_rejected_version_is_not_promoted(served):
    _, settings, target, run = served
    rejected = register_variant(target, settings, run, "not-promoted", verdict_promote=False)
    with pytest.raises(lifecycle.LifecycleError, match="was not promoted by the gate"):
        lifecycle.promote(target, settings, rejected.version)


def test_stop_removes_the_endpoint(served):
    _, _, target, _ = served
    url = target.get_endpoint().scoring_uri
    target.delete_endpoint()
    assert target.get_endpoint() is None
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=5)
