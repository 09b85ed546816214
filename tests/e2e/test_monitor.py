"""`mlops monitor` on what real scoring servers collected: the model's own test rows
breach nothing, the same rows with two features shifted breach on exactly those two,
and the numbers are what scipy computes on the rows collected."""

import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from tests.conftest import (
    STATE,
    copy_project,
    edit_model,
    model_file,
    stop_endpoints,
    wait_until,
)
from tests.e2e.test_run import in_process, mlops
from tests.mlops.test_fail_closed import cli

LABEL, SENSITIVE = "default_payment_next_month", "SEX"
SHIFTED = {"LIMIT_BAL": lambda v: v * 3, "AGE": lambda v: v + 15}


@pytest.fixture(scope="module")
def serving(trained_template, tmp_path_factory):
    """The session's trained sample, deployed, with monitor settings of its own."""
    project = copy_project(trained_template, tmp_path_factory.mktemp("monitor") / "project")
    edit_model(
        project,
        monitor={
            "min_rows": 100,
            "feature_types": {"LIMIT_BAL": "numerical", "AGE": "numerical"},
            # 600 test rows: the noise of a category's share is larger than on Azure's
            # days of traffic, hence a looser bound than its 0.1.
            "data_drift": {
                "numerical": {"normalized_wasserstein_distance": 0.1},
                "categorical": {"jensen_shannon_distance": 0.15},
            },
        },
    )
    deployed = mlops(project, "run")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    try:
        yield project
    finally:
        stop_endpoints(project)


def test_rows_alike_the_training_data_breach_nothing_and_shifted_ones_breach_on_those(serving):
    project = serving
    state = json.loads((project / STATE / "endpoints" / "credit-default" / "endpoint.json")
                       .read_text())  # fmt: skip
    rows = held_out_rows(project)

    first = send(project, state["port"], rows.head(50))
    early = in_process(project, "monitor")
    assert early.returncode == 0, early.stdout + early.stderr
    assert (
        "nothing to judge: 50 rows collected in the window; nothing is judged below "
        "monitor.min_rows (100)"
    ) in early.stdout

    send(project, state["port"], rows)
    plain = in_process(project, "monitor", "--since", first)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "monitor: no breach" in plain.stdout
    assert f"{50 + len(rows)} rows collected" in plain.stdout

    shifted = rows.assign(**{name: change(rows[name]) for name, change in SHIFTED.items()})
    since = send(project, state["port"], shifted)
    drifted = in_process(project, "monitor", "--since", since)
    assert drifted.returncode == 4, drifted.stdout + drifted.stderr
    assert "monitor: BREACH on AGE, LIMIT_BAL" in drifted.stdout
    # The report draws its picture and links it.
    (picture,) = [line.split(": ", 1)[1] for line in drifted.stdout.splitlines()
                  if line.startswith("picture: ")]  # fmt: skip
    assert Path(picture).read_bytes().startswith(b"\x89PNG")
    assert "](monitor.png)" in (Path(picture).parent / "monitor.md").read_text()
    # ... and it is an MLflow run of the model's experiment, with its files.
    (run_id,) = [line.split(": ", 1)[1] for line in drifted.stdout.splitlines()
                 if line.startswith("mlflow run: ")]  # fmt: skip
    client = MlflowClient(f"sqlite:///{project / STATE}/mlflow.db")
    run = client.get_run(run_id)
    assert run.info.run_name == Path(picture).parent.name and run.info.status == "FINISHED"
    assert run.data.metrics["breach"] == 1.0
    assert run.data.metrics["data_drift.AGE." + NWD] > 0.1
    assert run.data.tags["mlops.monitor.breached_features"] == "AGE,LIMIT_BAL"
    logged = {item.path for item in client.list_artifacts(run_id)}
    assert logged == {"monitor.json", "monitor.md", "monitor.png"}

    # The number the report gives is scipy's on the rows the endpoint collected.
    measured = json.loads(Path(report_path(drifted)).read_text())
    assert measured["breached_features"] == ["AGE", "LIMIT_BAL"]
    (limit,) = [m["value"] for m in measured["measured"]
                if (m["feature"], m["metric"]) == ("LIMIT_BAL", NWD)]  # fmt: skip
    baseline = train_rows(project)["LIMIT_BAL"].to_numpy(float)
    collected = collected_rows(project, since)["LIMIT_BAL"].to_numpy(float)
    assert len(collected) == len(rows)
    expected = wasserstein_distance(baseline, collected) / np.std(baseline, ddof=1)
    assert limit == pytest.approx(expected, rel=1e-9)

    # The answers' prediction drift: the classes answered against the model's answers
    # on its test split; within bounds on either traffic, and scipy's number.
    measured = json.loads(Path(report_path(plain)).read_text())["measured"]
    (predicted,) = [m for m in measured if m["signal"] == "prediction_drift"]
    assert (predicted["feature"], predicted["metric"], predicted["breach"]) == (
        "prediction",
        JSD,
        False,
    )
    reference = pd.read_parquet(answers_file(project))["prediction"]
    answered = collected_rows(project, first, "model_outputs", until=since)["prediction"]
    assert len(answered) == 50 + len(rows)
    classes = sorted(set(reference) | set(answered))
    shares = [s.value_counts(normalize=True).reindex(classes, fill_value=0) for s in
              (reference, answered)]  # fmt: skip
    assert predicted["value"] == pytest.approx(jensenshannon(*shares, base=2), rel=1e-9)

    # A tighter bound on it breaches on the prediction alone.
    path = model_file(project)
    before = path.read_text()
    edit_model(
        project, monitor={"prediction_drift": {"categorical": {JSD: predicted["value"] / 2}}}
    )
    try:
        tight = in_process(project, "monitor", "--since", first, "--until", since)
    finally:
        path.write_text(before)
    assert tight.returncode == 4, tight.stdout + tight.stderr
    assert "monitor: BREACH on prediction" in tight.stdout


NWD, JSD = "normalized_wasserstein_distance", "jensen_shannon_distance"


def report_path(done) -> str:
    (path,) = [line.split(": ", 1)[1] for line in done.stdout.splitlines()
               if line.startswith("report: ")]  # fmt: skip
    return path


def answers_file(project) -> Path:
    (path,) = (project / STATE / "runs").glob("*/evaluate/outputs/metrics/answers.parquet")
    return path


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def send(project, port: int, rows: pd.DataFrame, state: Path = STATE) -> str:
    """Score ``rows`` 50 at a time from the start of a second (collected records
    say their time to the second); return that second, once every row is collected
    (under the model's ``state`` folder)."""
    previous = now()
    wait_until(lambda: now() > previous, what="the next second")
    started = now()
    for start in range(0, len(rows), 50):
        part = rows.iloc[start : start + 50]
        body = {"input_data": {"columns": list(part.columns), "data": part.values.tolist()}}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/score",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
    wait_until(
        lambda: len(collected_rows(project, started, state=state)) == len(rows),
        what="the records",
    )
    return started


def held_out_rows(project, state: Path = STATE) -> pd.DataFrame:
    (path,) = (project / state / "runs").glob("*/prep/outputs/test_data/*.parquet")
    return pd.read_parquet(path).drop(columns=[LABEL, SENSITIVE])


def train_rows(project) -> pd.DataFrame:
    (path,) = (project / STATE / "runs").glob("*/prep/outputs/train_data/*.parquet")
    return pd.read_parquet(path)


def collected_rows(
    project,
    since: str,
    collection: str = "model_inputs",
    until: str = "9999",
    state: Path = STATE,
) -> pd.DataFrame:
    """The rows of ``collection`` collected in [since, until), read here from the
    JSON lines themselves."""
    folder = project / state / "collected" / "credit-default" / "blue" / collection
    records = [json.loads(line) for path in folder.rglob("*.jsonl")
               for line in path.read_text().splitlines()]  # fmt: skip
    return pd.DataFrame([row for r in records if since <= r["time"] < until for row in r["data"]])


def test_a_threshold_for_a_feature_the_model_has_not_is_refused_naming_the_key(serving):
    path = serving / "models" / "credit-default" / "mlops.yml"
    before = path.read_text()
    edit_model(serving, monitor={"data_drift": {"features": {"INCOME": {NWD: 0.2}}}})
    try:
        refused = in_process(serving, "monitor")
    finally:
        path.write_text(before)
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        "error: monitor.data_drift.features.INCOME: the model has no feature 'INCOME'; "
        "its features are LIMIT_BAL, "
    )


def test_replay_sends_the_test_split_shifted_and_monitor_names_the_shifted_features(serving):
    done = in_process(serving, "endpoint", "replay", "--rows", "500",
                      "--shift", "LIMIT_BAL*3", "--shift", "AGE+15")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "replayed 500 test rows of credit-default-classifier:1 (LIMIT_BAL*3, AGE+15)" in (
        done.stdout
    )
    assert "; 500 collected" in done.stdout
    command = done.stdout.splitlines()[-1].removeprefix("judge them: mlops ").split()
    judged = in_process(serving, *command)
    assert judged.returncode == 4, judged.stdout + judged.stderr
    assert "500 rows collected" in judged.stdout
    assert "monitor: BREACH on AGE, LIMIT_BAL" in judged.stdout

    # The rows sent are the held-out ones, shifted as asked.
    since = command[-1]
    sent = collected_rows(serving, since)
    rows = held_out_rows(serving).head(500)
    assert sent["LIMIT_BAL"].tolist() == (rows["LIMIT_BAL"] * 3).tolist()
    assert sent["AGE"].tolist() == (rows["AGE"] + 15).tolist()
    assert sent["PAY_0"].tolist() == rows["PAY_0"].tolist()


@pytest.mark.parametrize(
    ("shift", "said"),
    [
        ("INCOME*2", "--shift INCOME*2: the model has no feature 'INCOME'; its features are "),
        ("AGE*x", "--shift AGE*x: 'x' is not a number"),
        ("AGE", "--shift 'AGE': write COLUMN*NUMBER, COLUMN+NUMBER"),
    ],
)
def test_a_shift_replay_cannot_make_is_refused_naming_it(serving, shift, said):
    # In this process: what is checked is the message, not the console script.
    code, _, err = cli(serving / "mlops.yml", "endpoint", "replay", "--shift", shift)
    assert code == 1
    assert said in err
