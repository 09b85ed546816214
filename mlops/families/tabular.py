"""The tabular family's operations: a CSV whose ``data.target_column`` a model
predicts from the other columns (binary and multiclass classification, regression).

Registration checks the table (``mlops.data_checks``); the pipeline is
``pipelines/train.yml``, which takes the columns' roles as a file; a new
deployment is smoke-tested with rows of the model's own test split
(``mlops.deploy``).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.data_checks import DataError, check_table, feature_columns, label_key, require_columns
from mlops.families import Operations, SmokeTest
from mlops.input_checks import inputs_from
from mlops.kinds import DEFAULT_KIND, TABULAR, get_kind
from mlops.settings import Settings, SettingsError
from mlops.state_files import refuse_link, write_file
from mlops.targets.base import DeploymentError

if TYPE_CHECKING:
    import pandas as pd  # imported where used: it costs 0.4 s to start

    from mlops.targets.base import DataAsset, Target

SETTINGS_INPUTS = TABULAR.settings_inputs


def pipeline_inputs(settings: Settings, asset: DataAsset) -> dict[str, object]:
    """The columns' roles (a file, ``columns``) and ``SETTINGS_INPUTS``, for a run
    on ``asset``; raises ``DataError`` when its columns do not fit the settings."""
    data, where = settings.data, f"data asset {asset.ref}"
    require_columns(asset.columns, data, where=where)
    features = feature_columns(asset.columns, data)
    if not features:
        raise DataError(
            f"{where}: data.features leaves no feature column (columns: "
            f"{', '.join(asset.columns)}); include some or exclude fewer"
        )
    _check_forbidden(settings, features)
    # Recorded at registration; assets registered before that record none.
    positive = data.positive_class
    if positive is not None and asset.classes and label_key(positive) not in asset.classes:
        raise DataError(
            f"{where}: data.positive_class {data.positive_class!r} is not a value of target "
            f"column {data.target_column!r} (values: {', '.join(asset.classes)})"
        )
    roles = {
        "kind": settings.kind,
        "target_column": data.target_column,
        "positive_class": data.positive_class,
        "sensitive_column": data.sensitive_column,
        "features": list(features),
    }
    return {
        "columns": write_column_roles(settings, roles),
        **inputs_from(settings, SETTINGS_INPUTS),
    }


def _check_forbidden(settings: Settings, features) -> None:
    """Refuse a forbidden feature of ``gate.explanations`` that the model does not
    take: the rule could never fail."""
    for index, rule in enumerate(settings.gate.explanations):
        for name in rule.forbidden:
            if name in features:
                continue
            why = (
                "it is data.sensitive_column, which the model never takes"
                if name == settings.data.sensitive_column
                else f"the model's features are {', '.join(features)}"
            )
            raise SettingsError(
                f"{settings.source}: gate.explanations.{index}.forbidden: {name!r} is not a "
                f"feature of the model ({why}); name a feature, or remove it"
            )


def write_column_roles(settings: Settings, roles: dict) -> Path:
    """The pipeline's ``columns`` input: ``roles`` as a JSON file under the state
    folder, named by its content (the same roles give the same file). A file, not
    command-line strings, so that any column name reaches the steps intact."""
    text = json.dumps(roles, indent=2, ensure_ascii=False) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = settings.state_folder() / "inputs" / f"columns-{digest}.json"
    refuse_link(path)  # the steps would read whatever it points to
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(path, text.encode())
    return path


@dataclass(frozen=True)
class TableCases:
    """The tabular family's smoke test: rows of the model's test split, scored in one
    request; each must get an answer of the model's kind, and a request missing a
    column must be refused as the client's fault."""

    rows: pd.DataFrame

    @classmethod
    def from_split(cls, folder: Path, settings: Settings) -> TableCases:
        """The first ``endpoint.smoke_rows`` rows of the test split in ``folder`` as
        they are (gaps included: scoring accepts what training did), without the
        target and sensitive columns."""
        import pandas as pd

        files = sorted(folder.glob("*.parquet"))
        if not files:
            raise DeploymentError(f"{folder}: the run left no test split")
        table = pd.read_parquet(files[0])
        data = settings.data
        roles = [data.target_column, data.sensitive_column]
        rows = table.drop(columns=[c for c in roles if c], errors="ignore")
        rows = rows.head(settings.endpoint.smoke_rows)
        if rows.empty:
            raise DeploymentError(f"{files[0]}: no row to smoke-test the deployment with")
        return cls(rows)

    @classmethod
    def from_sample(cls, body: bytes, limit: int) -> TableCases:
        return cls(rows_of(body).head(limit))

    def body(self) -> bytes:
        return request_body(self.rows)

    def sample(self) -> bytes:
        return request_body(self.rows.head(2))

    def run(self, target: Target, deployment: str, kind) -> SmokeTest:
        return smoke_test(target, deployment, self.rows, kind.name)


def rows_of(body: bytes) -> pd.DataFrame:
    """The rows of a scoring request (``request_body``'s inverse)."""
    import pandas as pd

    split = json.loads(body)["input_data"]
    return pd.DataFrame(split["data"], columns=split["columns"])


def request_body(rows: pd.DataFrame) -> bytes:
    """The scoring request for ``rows`` (the ``input_data`` split form score.py takes)."""
    split = json.loads(rows.to_json(orient="split", index=False))
    return json.dumps({"input_data": split}).encode()


def smoke_test(
    target: Target, deployment: str, rows: pd.DataFrame, kind: str = DEFAULT_KIND
) -> SmokeTest:
    """Score ``rows`` straight on ``deployment``; raise ``DeploymentError`` unless the
    answer is one of ``kind`` for every row (a binary classifier's: a probability
    each) and a malformed request is refused as the client's fault."""
    started = time.perf_counter()
    status, body = target.invoke(request_body(rows), deployment=deployment)
    seconds = time.perf_counter() - started
    where = f"smoke test of deployment {deployment}"
    if status != 200:
        raise DeploymentError(f"{where}: HTTP {status}: {body[:300].decode(errors='replace')}")
    try:
        answer = json.loads(body)
        if not isinstance(answer, dict):
            raise ValueError("the answer is not the scoring contract's JSON")
        get_kind(kind).check_answer(answer, len(rows))
    except ValueError as problem:
        raise DeploymentError(f"{where}: {problem}") from None
    broken = rows.drop(columns=rows.columns[0])
    status, _ = target.invoke(request_body(broken), deployment=deployment)
    if not 400 <= status < 500:
        raise DeploymentError(
            f"{where}: a request missing column {rows.columns[0]} got HTTP {status}, not a "
            "client error (4xx)"
        )
    return SmokeTest(rows=len(rows), seconds=seconds)


OPERATIONS = Operations(
    check_data=check_table,
    pipeline_inputs=pipeline_inputs,
    from_split=TableCases.from_split,
    from_sample=TableCases.from_sample,
)
