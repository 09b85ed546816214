"""The command line: help, exit codes and one-line errors, on a throw-away project."""

import json
import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlops import cli
from mlops.cli import build_parser, main
from tests.conftest import free_port, sample_frame, write_settings

STATE = Path(".mlops") / "models" / "credit-default"  # the sample model's, in no environment

VERBS = [
    "register-data",
    "train",
    "runs",
    "show",
    "gate",
    "register",
    "models",
    "new-model",
    "promote",
    "deploy",
    "endpoint",
    "run",
    "monitor",
    "reproduce",
    "card",
    "audit",
]


@pytest.fixture
def in_project(project, monkeypatch):
    monkeypatch.chdir(project)
    return project


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([verb, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: mlops {verb}")


def test_the_parser_knows_exactly_the_documented_verbs():
    verbs = next(a for a in build_parser()._actions if a.dest == "verb")
    assert list(verbs.choices) == VERBS


def test_an_unknown_verb_is_a_usage_error():
    with pytest.raises(SystemExit) as exit_:
        main(["deploy-everything"])
    assert exit_.value.code == 2


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    return err


def test_register_data_prints_the_version_and_is_idempotent(in_project, capsys):
    assert main(["register-data"]) == 0
    first = capsys.readouterr().out
    assert main(["register-data"]) == 0
    second = capsys.readouterr().out
    assert " registered (3000 rows" in first
    assert " already registered (3000 rows" in second
    assert first.split()[1] == second.split()[1]


def test_bad_data_is_one_line_and_registers_nothing(in_project, capsys):
    sample_frame(50).drop(columns=["SEX"]).to_csv(in_project / "data" / "credit.csv", index=False)
    assert main(["register-data"]) == 1
    assert "column 'SEX' named by data.sensitive_column" in one_line_error(capsys)
    assert not any((in_project / STATE / "data").rglob("asset.json"))


def test_an_invalid_setting_is_one_line_naming_the_key(in_project, capsys):
    write_settings(in_project, data={"path": "data/credit.csv", "target_colum": "x"})
    assert main(["runs"]) == 1
    assert "data.target_colum: unknown key" in one_line_error(capsys)


def test_train_without_registered_data_says_what_to_run(in_project, capsys):
    assert main(["train"]) == 1
    assert "run `mlops register-data` first" in one_line_error(capsys)


def test_show_of_an_unknown_run_is_one_line(in_project, capsys):
    assert main(["runs"]) == 0
    assert "no pipeline runs yet" in capsys.readouterr().out
    assert main(["show", "nope"]) == 1
    assert "no run matching 'nope'" in one_line_error(capsys)


def test_the_azure_target_without_a_workspace_names_what_to_set(in_project, capsys, monkeypatch):
    monkeypatch.setenv("MLOPS_TARGET", "azure")
    for name in ("AZUREML_WORKSPACE_NAME", "AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP"):
        monkeypatch.delenv(name, raising=False)
    assert main(["runs"]) == 1
    error = one_line_error(capsys)
    assert "no workspace named: set AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP" in error
    assert "AZUREML_WORKSPACE_NAME" in error


def test_a_failing_step_stops_the_run_and_is_recorded_as_failed(in_project, capsys):
    # A train step that crashes: prep runs for real, evaluate must never start.
    (in_project / "pipelines" / "src" / "train.py").write_text(
        "import sys\nprint('training blew up', file=sys.stderr)\nsys.exit(4)\n"
    )
    assert main(["run"]) == 1
    captured = capsys.readouterr()
    assert "  train | training blew up" in captured.out
    assert captured.err.strip().startswith("error: step 'train' failed with exit code 4")

    (record,) = (in_project / STATE / "runs").glob("*/run.json")
    run = json.loads(record.read_text())
    assert run["status"] == "Failed"
    assert [(s["name"], s["status"]) for s in run["steps"]] == [
        ("prep", "Completed"),
        ("train", "Failed"),
        ("evaluate", "NotStarted"),
    ]
    assert run["metrics"] == {}
    client = MlflowClient(f"sqlite:///{in_project / STATE / 'mlflow.db'}")
    assert client.get_run(run["tracking_run_id"]).info.status == "FAILED"


def test_a_mis_wired_pipeline_is_one_line_and_runs_nothing(in_project, capsys):
    pipeline = in_project / "pipelines" / "train.yml"
    pipeline.write_text(
        pipeline.read_text().replace(
            "parent.jobs.prep.outputs.test_data", "parent.jobs.prepp.outputs.test_data"
        )
    )
    assert main(["register-data"]) == 0
    capsys.readouterr()
    assert main(["train"]) == 1
    assert "jobs.evaluate.inputs.test_data: no job named 'prepp'" in one_line_error(capsys)
    assert not (in_project / STATE / "runs").exists()


def test_gate_of_a_project_without_runs_is_one_line(in_project, capsys):
    assert main(["gate", "latest"]) == 1
    assert "no run matching 'latest'" in one_line_error(capsys)


def test_gate_exits_0_to_promote_3_to_reject_and_register_keeps_the_verdict_deploy_checks(
    trained, capsys, monkeypatch
):
    # One trained run, judged under two gates: the exit codes, the reports, and a
    # rejected model that is registered with its verdict and then refused by deploy.
    in_project = trained
    monkeypatch.chdir(in_project)
    assert main(["gate", "latest"]) == 0
    assert (
        "gate: PROMOTE (against no champion: no version was ever deployed)"
        in capsys.readouterr().out
    )
    write_settings(
        in_project,
        data={"path": "data/credit.csv"},
        local={"endpoint_port": free_port()},
        gate={"thresholds": [{"metric": "auc", "better": "higher", "min": 0.99}]},
    )
    assert main(["gate", "latest", "--report-dir", "gate-report"]) == 3
    out = capsys.readouterr().out
    assert "gate: REJECT" in out
    assert "auc 0." in out and "fails >= 0.99" in out
    report = json.loads((in_project / "gate-report" / "gate.json").read_text())
    assert report["verdict"] == "reject"

    assert main(["register", "latest"]) == 0
    assert "model credit-default-classifier:1 registered (gate: reject)" in capsys.readouterr().out
    assert main(["register", "latest"]) == 0
    again = capsys.readouterr().out
    assert "credit-default-classifier:1 already registered" in again
    # What is printed is the verdict on record, not a new gate against today's champion.
    assert "gate then: reject" in again and "PROMOTE" not in again
    # A judged model is exit 3, as `gate` says reject: a workflow ends green on it.
    assert main(["deploy", "1"]) == 3
    refused = one_line_error(capsys)
    assert "credit-default-classifier:1 does not pass the gate against no champion" in refused
    assert "auc 0." in refused and "fails >= 0.99" in refused
    assert main(["deploy", "7"]) == 1
    assert "has no version '7'" in one_line_error(capsys)
    summary = in_project / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert main(["promote", "1"]) == 3
    assert "was not promoted by the gate (verdict: reject)" in one_line_error(capsys)
    # In a workflow step the reason also reaches the job summary.
    assert (
        "Kept out by the gate:** model credit-default-classifier:1 was not" in summary.read_text()
    )


def test_the_endpoint_verbs_say_when_there_is_no_endpoint(in_project, capsys):
    assert main(["endpoint", "show"]) == 0
    assert "endpoint credit-default: not created yet" in capsys.readouterr().out
    assert main(["endpoint", "invoke"]) == 1
    assert "cannot read the request file" in one_line_error(capsys)
    (in_project / "request.json").write_text("{}")
    assert main(["endpoint", "invoke", "--request-file", "request.json"]) == 1
    assert "is not running; start it with `mlops endpoint start`" in one_line_error(capsys)
    assert main(["endpoint", "start"]) == 1
    assert "endpoint credit-default does not exist; deploy a model" in one_line_error(capsys)
    assert main(["endpoint", "stop"]) == 0


def test_a_gate_rule_on_a_metric_never_written_stops_train_before_it_starts(in_project, capsys):
    assert main(["register-data"]) == 0
    capsys.readouterr()
    write_settings(
        in_project,
        data={"path": "data/credit.csv"},
        gate={"thresholds": [{"metric": "roc_auc", "better": "higher", "min": 0.7}]},
    )
    assert main(["train"]) == 1
    assert (
        "gate.thresholds.0.metric: the evaluate step of a binary-classification model "
        "writes no metric 'roc_auc'" in (one_line_error(capsys))
    )
    assert not (in_project / STATE / "runs").exists()


def test_a_missing_deployment_file_stops_run_before_anything_is_registered(in_project, capsys):
    write_settings(
        in_project, data={"path": "data/credit.csv"}, endpoint={"deployment": "nowhere.yml"}
    )
    assert main(["run"]) == 1
    assert "nowhere.yml: deployment file not found (see endpoint.deployment)" in (
        one_line_error(capsys)
    )
    assert not (in_project / STATE / "data").exists()


def test_a_test_size_the_prep_step_refuses_stops_run_before_anything_is_registered(
    in_project, capsys
):
    write_settings(
        in_project,
        data={"path": "data/credit.csv"},
        local={"endpoint_port": free_port()},
        pipeline={"test_size": 0.7},
    )
    assert main(["run"]) == 1
    assert (
        "models/credit-default/mlops.yml: pipeline.test_size: 0.7 is above the maximum 0.5 "
        "of input test_size of job "
        "prep (pipelines/components/prep.yml); set it between 0.05 and 0.5"
    ) in one_line_error(capsys)
    assert not (in_project / STATE / "data").exists()


@pytest.mark.parametrize("verb", [["register-data"], ["endpoint", "stop"]])
def test_a_state_dir_that_cannot_hold_files_is_one_line_naming_the_key(in_project, capsys, verb):
    write_settings(in_project, data={"path": "data/credit.csv"}, state_dir="mlops.yml/x")
    assert main(verb) == 1
    assert "state_dir: " in one_line_error(capsys)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"features": {"include": ["AGE"], "exclude": ["AGE"]}},
            "data.features leaves no feature column",
        ),
        ({"positive_class": "2"}, "data.positive_class '2' is not a value of target column"),
    ],
    ids=["no feature left", "positive class not in the data"],
)
def test_settings_that_do_not_fit_the_registered_data_stop_train_before_it_starts(
    in_project, capsys, data, message
):
    assert main(["register-data"]) == 0
    capsys.readouterr()
    write_settings(in_project, data={"path": "data/credit.csv", **data})
    assert main(["train"]) == 1
    assert message in one_line_error(capsys)
    assert not (in_project / STATE / "runs").exists()


def test_the_state_folder_is_created_owner_only_whatever_the_umask(in_project, capsys):
    previous = os.umask(0)
    try:
        assert main(["register-data"]) == 0
    finally:
        os.umask(previous)
    state = in_project / ".mlops"
    assert state.stat().st_mode & 0o777 == 0o700


def test_an_environment_the_settings_do_not_name_is_one_line_naming_them(in_project, capsys):
    assert main(["--env", "qa", "runs"]) == 1
    assert "environments: no environment 'qa' (from --env or MLOPS_ENV); the settings name " in (
        one_line_error(capsys)
    )


def test_an_environment_keeps_its_own_state(in_project, capsys, monkeypatch):
    monkeypatch.setenv("MLOPS_ENV", "staging")
    assert main(["register-data"]) == 0
    assert (
        in_project / ".mlops" / "envs" / "staging" / STATE.relative_to(".mlops") / "data"
    ).is_dir()
    assert not (in_project / STATE / "data").exists()


def test_a_reader_that_stops_reading_ends_the_command_quietly(in_project):
    # `mlops runs | head`: the pipe is closed before the command prints.
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mlops.cli", "runs"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, "")


def test_a_yaml_syntax_error_is_one_line_naming_the_line_and_column(in_project, capsys):
    settings = in_project / "mlops.yml"
    lines = settings.read_text().splitlines()
    number = lines.index("target: local")
    lines[number] = "target: local: azure"
    settings.write_text("\n".join(lines) + "\n")
    assert main(["runs"]) == 1
    assert one_line_error(capsys) == (
        f"error: mlops.yml: line {number + 1}, column 14: not valid YAML: mapping values "
        "are not allowed here; fix the syntax there"
    )


@pytest.mark.parametrize("verb", [["deploy", "latest"], ["run"]])
def test_a_linked_sample_request_stops_a_deploy_before_anything_changes(
    in_project, capsys, tmp_path_factory, verb
):
    outside = tmp_path_factory.mktemp("elsewhere") / "notes.txt"
    outside.write_text("not mlops's\n")
    link = in_project / STATE / "requests" / "credit-default.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    assert main(verb) == 1
    assert one_line_error(capsys) == (
        f"error: {link}: a symbolic link where mlops keeps a file of its own; remove the "
        "link (mlops never writes through one)"
    )
    assert outside.read_text() == "not mlops's\n"
    assert not (in_project / STATE / "data").exists()  # `run` registered nothing


def test_an_interrupt_raised_in_a_finalizer_is_delivered_again_after_it(monkeypatch):
    # Ctrl-C or SIGTERM lands while the garbage collector runs a weakref callback:
    # Python ignores the KeyboardInterrupt raised there; the run must stop anyway.
    previous = signal.signal(signal.SIGTERM, cli._interrupt)
    monkeypatch.setattr(sys, "unraisablehook", cli._redeliver(sys.unraisablehook))
    held = type("Held", (), {})()
    finalized = weakref.ref(held, lambda ref: cli._interrupt(signal.SIGTERM, None))
    try:
        with pytest.raises(KeyboardInterrupt):
            del held  # runs the callback, whose KeyboardInterrupt goes nowhere...
            for _ in range(1000):  # ...and is raised again here (within 10 s, however busy)
                time.sleep(0.01)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert finalized() is None


def test_a_gate_rule_on_the_top_features_rejects_a_model_relying_on_a_forbidden_one(
    trained, capsys, monkeypatch
):
    monkeypatch.chdir(trained)
    (explained,) = (trained / STATE / "runs").rglob("explanations.json")
    top = [entry["feature"] for entry in json.loads(explained.read_text())["features"]]

    def gate_forbidding(name: str) -> None:
        write_settings(
            trained,
            data={"path": "data/credit.csv"},
            local={"endpoint_port": free_port()},
            gate={
                "thresholds": [{"metric": "auc", "better": "higher", "min": 0.6}],
                "explanations": [{"top": 3, "forbidden": [name]}],
            },
        )

    gate_forbidding(top[1])
    assert main(["gate", "latest", "--report-dir", "forbidden"]) == 3
    out = capsys.readouterr().out
    assert f"{top[1]} is number 2 of the candidate's top 3 (gate.explanations.0.forbidden)" in out
    report = (trained / "forbidden" / "gate.md").read_text()
    assert "| explanation | top 3 features | - | - | - |" in report

    gate_forbidding(top[-1])  # the feature it relies on least
    assert main(["gate", "latest"]) == 0
    capsys.readouterr()

    gate_forbidding("SEX")  # the sensitive column: never a feature, so never caught
    assert main(["train"]) == 1
    assert (
        "gate.explanations.0.forbidden: 'SEX' is not a feature of the model (it is "
        "data.sensitive_column, which the model never takes)" in one_line_error(capsys)
    )
