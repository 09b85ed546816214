"""`mlops`: the command line of the template. Thin: parse, call lifecycle, print.

Exit codes: 0 success (for ``gate``: promote); 1 the work failed (a pipeline
step, invalid data or settings, a failed deploy), with the reason on stderr;
2 a usage error; 3 the gate rejected the model (``gate``; ``deploy`` of a
version that does not beat the champion; ``promote`` of a rejected version);
4 ``monitor`` found a breach; 5 ``reproduce`` rebuilt something other than the
version; 141 (128 + SIGPIPE, as a shell reports a program stopped by a closed pipe) the
reader of the output went away (``mlops models versions | head``), with no message.
Progress lines of long work (training, a deploy) are dropped once their reader
is gone: the work goes on to its end, never stopped half-way.
"""

from __future__ import annotations

import _thread
import argparse
import gc
import json
import os
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mlops import github
from mlops.errors import GateRejected, UserError
from mlops.settings import DEFAULT_FILE, load_settings

HELP_EPILOG = (
    "Settings come from mlops.yml (or --settings FILE) and the model's models/NAME/mlops.yml; "
    "MLOPS_TARGET overrides target."
)
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTED = 0, 1, 2, 3
EXIT_BREACH = 4  # `mlops monitor`: a threshold of the monitor's signals breached
EXIT_DIFFERENT = 5  # `mlops reproduce`: the rebuilt model is not the recorded one
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE (13)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops",
        description="Train, gate and deploy a model on Azure ML or locally.",
        epilog=HELP_EPILOG,
    )
    parser.add_argument(
        "--settings", default=DEFAULT_FILE, help="settings file (default: %(default)s)"
    )
    parser.add_argument(
        "--env",
        metavar="NAME",
        help="the environment to work in, one of `environments` in the settings "
        "(default: MLOPS_ENV, else none)",
    )
    parser.add_argument(
        "--model",
        metavar="NAME",
        help="the model to work on, a folder under models/ (default: MLOPS_MODEL, else "
        "the fork's only model)",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    verbs.add_parser(
        "register-data", help="validate data.path and register it as a data asset version"
    )
    train = verbs.add_parser("train", help="run the training pipeline on a registered data version")
    train.add_argument("--data-version", help="data asset version (default: the latest)")
    _force_rerun_flag(train)
    verbs.add_parser("runs", help="list the pipeline runs, newest first")
    show = verbs.add_parser("show", help="show one pipeline run: steps, times, outputs, metrics")
    show.add_argument("run", metavar="RUN", help="run id, a unique prefix of one, or 'latest'")
    gate = verbs.add_parser(
        "gate", help="compare a run's model with the serving one (exit 0 promote, 3 reject)"
    )
    gate.add_argument("run", metavar="RUN", help="run id, a unique prefix of one, or 'latest'")
    gate.add_argument("--report-dir", type=Path, help="where to write gate.json/.md/.png")
    _replace_task_flag(gate)
    register = verbs.add_parser(
        "register", help="gate a run's model and register it with its lineage and verdict"
    )
    register.add_argument("run", metavar="RUN", help="run id, a unique prefix of one, or 'latest'")
    register.add_argument("--report-dir", type=Path, help="where to write gate.json/.md/.png")
    _replace_task_flag(register)
    models = verbs.add_parser("models", help="the fork's models: list, versions, affected")
    model_actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    model_actions.add_parser(
        "list", help="every model of the fork: kind, endpoint, serving version per environment"
    )
    model_actions.add_parser(
        "versions", help="the registered versions of one model (--model), newest first"
    )
    affected = model_actions.add_parser(
        "affected",
        help="the models that files changed in a commit touch, as a JSON list (for a "
        "workflow's matrix); the changed paths come on standard input, one per line",
    )
    affected.add_argument(
        "--all", action="store_true", help="every model, whatever changed (a scheduled run)"
    )
    new_model = verbs.add_parser(
        "new-model", help="scaffold models/NAME/mlops.yml, every key commented, to edit"
    )
    new_model.add_argument("name", metavar="NAME", help="the model's name (its folder)")
    new_model.add_argument("--kind", required=True, choices=_kind_names(), help="what it predicts")
    new_model.add_argument(
        "--from",
        dest="source",
        metavar="EXISTING",
        help="start from this model's settings (its data, columns and gate) instead of blanks",
    )
    promote = verbs.add_parser(
        "promote",
        help="copy a gate-passed model version into the registry the environments share",
    )
    promote.add_argument("version", metavar="MODEL_VERSION", help="model version, or 'latest'")
    deploy = verbs.add_parser(
        "deploy", help="deploy a promoted model version blue/green to the endpoint"
    )
    deploy.add_argument(
        "version",
        metavar="MODEL_VERSION",
        help="model version, 'latest', or registry:NAME:VERSION (a promoted version)",
    )
    past_the_gate = deploy.add_mutually_exclusive_group()
    past_the_gate.add_argument(
        "--rollback",
        metavar="REASON",
        help="return to a version that served before, without the gate; REASON is recorded",
    )
    past_the_gate.add_argument(
        "--override-gate",
        metavar="REASON",
        help="replace the champion although the gate rejects the version (the smoke test "
        "still runs); REASON and who gave it are recorded; in a workflow, only where the "
        "job's environment requires a reviewer",
    )
    _replace_task_flag(past_the_gate)
    endpoint = verbs.add_parser("endpoint", help="the online endpoint: show, invoke, start, stop")
    actions = endpoint.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("show", help="scoring URL, deployments, models and traffic")
    invoke = actions.add_parser("invoke", help="send a scoring request and print the answer")
    invoke.add_argument(
        "--request-file",
        type=Path,
        help="JSON request (default: the sample request of the "
        "last deploy); - reads standard input",
    )
    invoke.add_argument("--deployment", help="score on this deployment, bypassing the traffic map")
    replay = actions.add_parser(
        "replay",
        help="send the serving model's test split through the endpoint, features shifted "
        "if asked (traffic for `mlops monitor`)",
    )
    replay.add_argument(
        "--shift",
        action="append",
        default=[],
        metavar="SHIFT",
        help="change a feature of every row: COLUMN*NUMBER, COLUMN+NUMBER, COLUMN-NUMBER or "
        "COLUMN=VALUE (repeat for more)",
    )
    replay.add_argument(
        "--rows", type=_positive, metavar="N", help="only the first N rows (default: all)"
    )
    actions.add_parser(
        "start", help="start again what of the endpoint has stopped (e.g. after a reboot)"
    )
    actions.add_parser("stop", help="stop the endpoint and remove its deployments")
    run = verbs.add_parser(
        "run", help="the main job: register data, train, gate, register, deploy, summary"
    )
    run.add_argument(
        "--new-data-only",
        action="store_true",
        help="stop (exit 0) before training when the serving model was trained on the "
        "data version data.path holds now (for scheduled retraining)",
    )
    run.add_argument(
        "--drift-report",
        type=Path,
        metavar="PATH",
        help="retrain because of a monitor breach: PATH holds the monitor.json files (any "
        "depth) of `mlops monitor --report-dir`; the version is tagged mlops.trigger=drift "
        "and the breached reports are attached to its run",
    )
    _force_rerun_flag(run)
    _replace_task_flag(run)
    monitor = verbs.add_parser(
        "monitor",
        help="drift and data quality of what the serving deployment collected, against its "
        "model's training data (exit 4 on a breach)",
    )
    monitor.add_argument(
        "action",
        nargs="?",
        choices=("enable",),
        help="enable: create or update the target's own monitor of the serving deployment "
        "(Azure ML's MonitorSchedule) with the model's monitor settings",
    )
    for flag, what in (("--since", "since the version took the traffic"), ("--until", "now")):
        monitor.add_argument(
            flag,
            type=_moment,
            metavar="TIME",
            help=f"the window's bound, ISO 8601 (2026-12-03T10:00:00Z; default: {what})",
        )
    monitor.add_argument(
        "--report-dir", type=Path, help="where to write monitor.json/.md/.png as well"
    )
    reproduce = verbs.add_parser(
        "reproduce",
        help="rebuild a model version from its lineage (commit, data, inputs) and compare "
        "its metrics and files with the recorded ones (exit 5 when they differ)",
    )
    reproduce.add_argument("version", metavar="MODEL_VERSION", help="model version, or 'latest'")
    card = verbs.add_parser(
        "card",
        help="the model card of a version: what it is for, its data, metrics, gate, "
        "fairness, explanations, lineage and where it served",
    )
    card.add_argument(
        "version",
        nargs="?",
        metavar="MODEL_VERSION",
        help="model version, or 'latest' (default: the version serving, else the latest)",
    )
    audit = verbs.add_parser(
        "audit",
        help="every change to what serves in this environment: deploys, rollbacks, "
        "promotions and stops, with who, when and why",
    )
    audit.add_argument(
        "--model",
        metavar="NAME",
        default=argparse.SUPPRESS,  # the global --model, given after the verb
        help="the model whose trail to show (as the global --model)",
    )
    return parser


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return int(text)


def _moment(text: str):
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, like 2026-12-03T10:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _monitor(target, settings, args) -> int:
    from mlops.monitoring import require_monitored
    from mlops.monitoring.monitor import PICTURE, describe, markdown, monitor

    require_monitored(settings)
    if args.action == "enable":
        from mlops.monitoring.schedule import point_schedule

        point_schedule(target, settings, _echo)
        return EXIT_OK
    monitored = monitor(target, settings, args.since, args.until)
    print(describe(monitored))
    if monitored.folder:
        print(f"report: {monitored.folder / 'monitor.json'}")
        if (monitored.folder / PICTURE).is_file():
            print(f"picture: {monitored.folder / PICTURE}")
    if monitored.tracking_run_id:
        print(f"mlflow run: {monitored.tracking_run_id}")
    if args.report_dir and monitored.folder:
        shutil.copytree(monitored.folder, args.report_dir, dirs_exist_ok=True)
    report = monitored.report
    github.set_outputs(
        {
            "breach": str(bool(report.breached)).lower(),
            "breached_features": ",".join(report.breached_features),
        }
    )
    github.add_summary(markdown(monitored))
    return EXIT_BREACH if report.breached else EXIT_OK


def _kind_names() -> list[str]:
    from mlops.kinds import KINDS

    return list(KINDS)


def _replace_task_flag(parser) -> None:
    parser.add_argument(
        "--replace-task",
        metavar="REASON",
        help="replace a champion that predicts another target (or takes other columns) "
        "with this model, judged as the first of its task; REASON is recorded",
    )


def _force_rerun_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force-rerun",
        action="store_true",
        help="run every step, even one an earlier run completed with the same code, "
        "inputs and environment (whose outputs are otherwise reused, as on Azure ML)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A CI runner cancels a job with SIGTERM: treated as Ctrl-C, so a running
    # step is stopped and the run recorded as Canceled, not left behind.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    previous_hook, sys.unraisablehook = sys.unraisablehook, _redeliver(sys.unraisablehook)
    try:
        code = _dispatch(args)
        # Buffered output reaches a closed pipe here, not at exit, where
        # Python would print the BrokenPipeError it cannot raise any more.
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except GateRejected as error:  # the model was judged, nothing failed
        print(f"error: {error}", file=sys.stderr)
        github.add_summary(f"**Kept out by the gate:** {error}")
        return EXIT_REJECTED
    except UserError as error:  # one line for the user; the cause is in the message
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = previous_hook
        if argv is None:  # the console script: the process ends next
            # Skip the collection of everything imported (MLflow, pandas) at
            # interpreter exit: it costs about a second and frees nothing useful.
            gc.freeze()


def _interrupt(number: int, frame: object) -> None:
    raise KeyboardInterrupt


def _redeliver(hook: Callable[[object], None]) -> Callable[[object], None]:
    """``sys.unraisablehook`` that delivers again a Ctrl-C or SIGTERM whose
    ``KeyboardInterrupt`` was raised in a finalizer (a weakref callback the
    garbage collector ran just then), where Python ignores any exception: as
    SIGTERM, so the run stops all the same."""

    def handle(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            # From a thread of its own, not waited for: the main thread takes the
            # signal once that thread has the GIL, past this hook and the finalizer
            # (raised in the hook, it would be ignored again; should it land in a
            # finalizer again, it comes back here).
            _thread.start_new_thread(_thread.interrupt_main, (signal.SIGTERM,))
            return
        hook(unraisable)

    return handle


def _dispatch(args: argparse.Namespace) -> int:
    # Imported here, not at the top: they pull in pandas and the target's
    # SDKs, which `--help` and usage errors do not need.
    from mlops import lifecycle, summary
    from mlops.kinds import get_kind
    from mlops.metric_catalog import counts
    from mlops.targets import get_target

    if args.verb == "new-model" or (args.verb == "models" and args.action != "versions"):
        return _fork(args)
    settings = load_settings(args.settings, env=args.env, model=args.model)
    target = get_target(settings)
    headline = get_kind(settings.kind).headline
    if _writes(args):
        lifecycle.preflight(target, settings, deploying=_deploys(args), training=_trains(args))
    if args.verb == "monitor":
        return _monitor(target, settings, args)
    if args.verb == "register-data":
        asset = lifecycle.register_data(target, settings)
        print(summary.describe_asset(asset))
        github.set_outputs({"data_asset": asset.ref, "data_new": str(asset.new).lower()})
    elif args.verb == "runs":
        print(summary.describe_runs(target.list_runs(), headline))
    elif args.verb == "show":
        run = target.get_run(args.run)
        print(summary.describe_run(run, counts(settings)))
        print("\n" + summary.table(["output", "path"], sorted(run.outputs.items())))
    elif args.verb in ("train", "run"):
        return _train(args, target, settings)
    elif args.verb == "gate":
        decision, reports = lifecycle.gate(
            target, settings, args.run, args.report_dir, args.replace_task
        )
        print(summary.describe_decision(decision))
        print(summary.describe_reports(reports))
        _report_to_github(decision.verdict, reports)
        return EXIT_OK if decision.promote else EXIT_REJECTED
    elif args.verb == "register":
        model, decision, reports = lifecycle.register(
            target, settings, args.run, args.report_dir, args.replace_task
        )
        if decision is None:
            print(summary.describe_recorded_verdict(model))
        else:
            print(summary.describe_decision(decision))
            print(summary.describe_reports(reports))
            print(f"\nmodel {model.ref} registered (gate: {decision.verdict})")
            _report_to_github(decision.verdict, reports)
        github.set_outputs({"model_version": model.version})
    elif args.verb == "models":
        print(summary.describe_models(target.list_models(), target.get_endpoint(), headline))
    elif args.verb == "reproduce":
        from mlops import reproduce

        try:
            outcome = reproduce.reproduce(target, settings, args.version, _echo)
        except reproduce.ReproducedDifferent as problem:
            print(f"reproduce: DIFFERENT: {problem}")
            return EXIT_DIFFERENT
        print(reproduce.describe(outcome))
        return EXIT_DIFFERENT if outcome.verdict == reproduce.DIFFERENT else EXIT_OK
    elif args.verb == "card":
        from mlops import model_card, promotion

        version = args.version
        if version is None:
            serving = promotion.champion(target)
            version = serving.version if serving is not None else "latest"
        model = lifecycle.resolve_model(target, settings, version, _echo)
        print(model_card.markdown(model_card.build(target, settings, model)), end="")
    elif args.verb == "audit":
        from mlops import audit_trail

        print(audit_trail.describe(audit_trail.read(target.audit, settings.model_id)))
    elif args.verb == "promote":
        promoted = lifecycle.promote(target, settings, args.version, _echo)
        state = "promoted" if promoted.new else "already in the registry"
        # Locally --env picks the environment; on Azure, its workspace's variables do.
        where = "--env NAME " if target.name == "local" else ""
        source = promoted.tags.get(lifecycle.SOURCE_VERSION_TAG, args.version)
        print(
            f"model {source} {state} as registry:{promoted.ref} "
            f"(from {promoted.tags.get(lifecycle.SOURCE_TAG)}); deploy it in another "
            f"environment with `mlops {where}deploy registry:{promoted.ref}`"
        )
        github.set_outputs({"registry_model": f"registry:{promoted.ref}"})
        github.add_summary(f"Promoted {source} as `registry:{promoted.ref}`.")
    elif args.verb == "deploy":
        result = lifecycle.deploy(
            target,
            settings,
            args.version,
            _echo,
            rollback=args.rollback,
            replace_task=args.replace_task,
            override=args.override_gate,
        )
        print("\n" + summary.describe_deploy(result, lifecycle.sample_request(settings)))
        github.set_outputs({"deployment": result.deployment, "model": result.model})
        github.add_summary(summary.deploy_summary(result, args))
    else:
        return _endpoint(args, target, settings)
    return EXIT_OK


def _fork(args: argparse.Namespace) -> int:
    """The verbs about the fork's models rather than one of them."""
    from mlops import fork_models, scaffold
    from mlops.settings import load_fork

    fork = load_fork(args.settings)
    if args.verb == "new-model":
        created = scaffold.new_model(fork, args.name, args.kind, args.source)
        print(
            f"model {args.name} created: {summary_path(created)}; edit it (data.path and the "
            f"columns first), then run `mlops --model {args.name} run`"
        )
    elif args.action == "list":
        print(fork_models.describe(fork, env_only=args.env))
    else:
        changed = [] if args.all else [line.strip() for line in sys.stdin if line.strip()]
        names = fork_models.affected(fork, changed, every=args.all)
        print(json.dumps(names))
        github.set_outputs({"models": json.dumps(names)})
    return EXIT_OK


def summary_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _train(args: argparse.Namespace, target, settings) -> int:
    from mlops import lifecycle, summary
    from mlops.metric_catalog import counts

    if args.verb == "train":
        run = lifecycle.train(
            target, settings, _echo, data_version=args.data_version, force_rerun=args.force_rerun
        )
        print("\n" + summary.describe_run(run, counts(settings)))
        github.set_outputs({"run_id": run.run_id, "status": run.status})
    else:
        asset, drift = None, None
        if args.drift_report and args.new_data_only:
            raise UserError(
                "--drift-report and --new-data-only cannot go together: a breach retrains "
                "whatever data data.path holds"
            )
        if args.drift_report:
            from mlops.monitoring.trigger import breached_reports

            drift = breached_reports(args.drift_report, settings.model.name)
        if args.new_data_only:
            asset, same = lifecycle.serving_trained_on_current_data(target, settings, _echo)
            if same is not None:
                note = (
                    f"data {asset.ref} is what serving model {same.ref} was trained on: "
                    "nothing to retrain"
                )
                print(note)
                github.set_outputs({"status": "Skipped", "data_asset": asset.ref})
                github.add_summary(note)
                return EXIT_OK
        outcome = lifecycle.run(
            target,
            settings,
            _echo,
            asset=asset,
            force_rerun=args.force_rerun,
            replace_task=args.replace_task,
            drift=drift,
        )
        run = outcome.run
        request = lifecycle.sample_request(settings)
        print("\n" + summary.describe_outcome(outcome, request, counts(settings)))
        _outcome_to_github(outcome)
        if outcome.decision is not None and outcome.decision.task_changed:
            # Not a model that lost to the champion: the fork changed what it predicts.
            refusal = next(c.reason for c in outcome.decision.failed() if c.kind == "task")
            print(f"error: the gate refuses {outcome.model.ref}: {refusal}", file=sys.stderr)
            return EXIT_REJECTED
    if run.status != "Completed":
        print(f"error: {run.error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _report_to_github(verdict: str, reports) -> None:
    markdown = reports.get("markdown")
    github.set_outputs({"verdict": verdict, "gate_report": markdown or ""})
    if markdown is not None and markdown.is_file():
        github.add_summary(markdown.read_text(encoding="utf-8"))


def _outcome_to_github(outcome) -> None:
    values = {"data_asset": outcome.asset.ref, "run_id": outcome.run.run_id}
    values["status"] = outcome.run.status
    if outcome.model is not None:
        values["model_version"] = outcome.model.version
    if outcome.deployed is not None:
        values["deployment"] = outcome.deployed.deployment
    github.set_outputs(values)
    if outcome.decision is not None:
        _report_to_github(outcome.decision.verdict, outcome.reports)
    elif outcome.run.error:
        github.add_summary(f"Run {outcome.run.run_id} failed: {outcome.run.error}")


def _endpoint(args: argparse.Namespace, target, settings) -> int:
    from mlops import lifecycle, summary

    if args.action == "show":
        print(summary.describe_endpoint(target.get_endpoint(), settings.endpoint.name))
        return EXIT_OK
    if args.action == "start":
        lifecycle.start_endpoint(target, settings, _echo)
        print(summary.describe_endpoint(target.get_endpoint(), settings.endpoint.name))
        return EXIT_OK
    if args.action == "stop":
        lifecycle.stop_endpoint(target, settings, _echo)
        print(f"endpoint {settings.endpoint.name} stopped")
        return EXIT_OK
    if args.action == "replay":
        return _replay(args, target, settings)
    body = lifecycle.read_request(settings, args.request_file)
    status, answer = target.invoke(body, deployment=args.deployment)
    print(answer.decode(errors="replace"))
    if status != 200:
        print(f"error: the endpoint answered HTTP {status}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _replay(args: argparse.Namespace, target, settings) -> int:
    from mlops.monitoring.replay import Shift, replay

    shifts = [Shift.parse(text) for text in args.shift]
    done = replay(target, settings, shifts, args.rows)
    how = f" ({', '.join(map(str, shifts))})" if shifts else ""
    held = "" if done.collected is None else f"; {done.collected} collected"
    print(
        f"replayed {done.rows} {done.split} rows of {done.model}{how} through deployment "
        f"{done.deployment} from {done.since}{held}\n"
        f"judge them: mlops monitor --since {done.since}"
    )
    return EXIT_OK


def _writes(args: argparse.Namespace) -> bool:
    monitoring = args.verb == "monitor" and args.action is None
    reads_only = (
        monitoring
        or args.verb in ("runs", "show", "models", "new-model", "audit", "card")
        or (args.verb == "endpoint" and args.action in ("show", "invoke", "replay"))
    )
    return not reads_only


def _trains(args: argparse.Namespace) -> bool:
    return args.verb in ("train", "run", "reproduce")


def _deploys(args: argparse.Namespace) -> bool:
    return args.verb in ("run", "deploy") or (args.verb == "endpoint" and args.action == "start")


def _echo(line: str) -> None:
    try:
        print(line, flush=True)
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout() -> None:
    """Send what is still to be printed to /dev/null: the reader is gone, and
    Python would report the closed pipe again when it flushes stdout at exit."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a caller's capture)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
