"""`mlops`: the command line of the template. Thin: parse, call lifecycle, print.

Exit codes: 0 success; 1 the work failed (a pipeline step, invalid data or
settings), with a one-line reason on stderr; 2 a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mlops.settings import DEFAULT_FILE, load_settings

HELP_EPILOG = "Settings come from mlops.yml (or --settings FILE); MLOPS_TARGET overrides target."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops",
        description="Train, gate and deploy a model on Azure ML or locally.",
        epilog=HELP_EPILOG,
    )
    parser.add_argument(
        "--settings", default=DEFAULT_FILE, help="settings file (default: %(default)s)"
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    verbs.add_parser(
        "register-data", help="validate data.path and register it as a data asset version"
    )
    train = verbs.add_parser("train", help="run the training pipeline on a registered data version")
    train.add_argument("--data-version", help="data asset version (default: the latest)")
    verbs.add_parser("runs", help="list the pipeline runs, newest first")
    show = verbs.add_parser("show", help="show one pipeline run: steps, times, outputs, metrics")
    show.add_argument("run", metavar="RUN", help="run id, a unique prefix of one, or 'latest'")
    verbs.add_parser("run", help="the main job: register-data, then train, then a summary")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line for the user; the cause is in the message
        if not _is_user_error(error):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    # Imported here, not at the top: they pull in pandas and the target's
    # SDKs, which `--help` and usage errors do not need.
    from mlops import lifecycle, summary
    from mlops.targets import get_target

    settings = load_settings(args.settings)
    target = get_target(settings)
    if args.verb == "register-data":
        print(summary.describe_asset(lifecycle.register_data(target, settings)))
        return 0
    if args.verb == "runs":
        print(summary.describe_runs(target.list_runs()))
        return 0
    if args.verb == "show":
        run = target.get_run(args.run)
        print(summary.describe_run(run))
        print("\n" + summary.table(["output", "path"], sorted(run.outputs.items())))
        return 0
    if args.verb == "train":
        run = lifecycle.train(target, settings, _echo, data_version=args.data_version)
    else:
        _, run = lifecycle.run(target, settings, _echo)
    print("\n" + summary.describe_run(run))
    if run.status != "Completed":
        print(f"error: {run.error}", file=sys.stderr)
        return 1
    return 0


def _echo(line: str) -> None:
    print(line, flush=True)


def _is_user_error(error: Exception) -> bool:
    from mlops.commands import CommandError
    from mlops.data_checks import DataError
    from mlops.lifecycle import LifecycleError
    from mlops.pipeline_graph import PipelineError
    from mlops.settings import SettingsError
    from mlops.targets.base import RunNotFound

    return isinstance(
        error,
        CommandError
        | DataError
        | LifecycleError
        | PipelineError
        | SettingsError
        | RunNotFound
        | NotImplementedError,
    )


if __name__ == "__main__":
    sys.exit(main())
