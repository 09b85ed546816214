"""The data contract: which columns play which role, and what a model reads.

Two halves, each written once and read by every step that needs it:

- **Column roles** (``columns.json``, the pipeline's ``columns`` input, written
  by ``mlops`` from ``mlops.yml``): ``kind`` (one of ``KIND_NAMES``; a file
  without it is ``binary-classification``), ``target_column``,
  ``positive_class`` (the label of the positive class for a binary
  classifier, ``null`` for the other kinds), ``sensitive_column`` (``null``
  when fairness is not measured) and ``features`` (a list). A file, not
  command-line strings, so that a column name may hold spaces, commas,
  quotes or ``$`` on either target.
- **The model's contract**, saved in the model folder by the train step: the
  MLflow signature in ``MLmodel`` (each feature's name, type and whether it
  may be missing, as in training) and ``data_contract.json`` beside it
  (format 2: the roles with the kind, ``labels`` mapping each class code
  "0".."k-1" to the label it stands for, ``{}`` for regression, and each text
  feature's known categories; format 1, written before kinds, is a binary
  classifier's). ``evaluate.py`` and ``score.py`` read both with
  ``load_contract`` and build the model's input with ``Contract.model_frame``,
  so scoring accepts what training accepted.

Feature kinds, decided by a column's content: ``numeric`` (numbers, gaps
allowed), ``boolean`` (true/false, gaps allowed) and ``text`` (categories,
gaps allowed; a category unseen in training is scored as a missing value).
The model sees numbers and booleans as float64 (a gap is NaN) and text as
Python strings (a gap is NaN).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CONTRACT_FILE = "data_contract.json"
FORMAT = 2
# Format 1: written before kinds, without "kind"; always a binary classifier.
FORMATS = (1, FORMAT)
ROLE_KEYS = ("target_column", "positive_class", "sensitive_column", "features")
BOOLEAN_WORDS = ("true", "false")
# What a model predicts; what each kind does at each step is its row in kinds.py.
BINARY = "binary-classification"
KIND_NAMES = (BINARY, "multiclass-classification", "regression")


@dataclass(frozen=True)
class ColumnRoles:
    target_column: str
    positive_class: str | None  # None for every kind but binary-classification
    sensitive_column: str | None
    features: tuple[str, ...]
    kind: str = BINARY

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "target_column": self.target_column,
            "positive_class": self.positive_class,
            "sensitive_column": self.sensitive_column,
            "features": list(self.features),
        }


def roles_from_dict(raw: object, where: str) -> ColumnRoles:
    """Validate the column roles in ``raw`` (``kind`` optional, binary-classification
    when absent); raises ValueError naming ``where`` and the key."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a JSON object with {', '.join(ROLE_KEYS)}")
    unknown = sorted(set(raw) - {*ROLE_KEYS, "kind"})
    missing = [key for key in ROLE_KEYS if key not in raw]
    if unknown or missing:
        raise ValueError(
            f"{where}: unknown keys: {', '.join(unknown) or 'none'}; "
            f"missing keys: {', '.join(missing) or 'none'}"
        )
    kind = raw.get("kind", BINARY)
    if kind not in KIND_NAMES:
        raise ValueError(f"{where}: kind must be one of {', '.join(KIND_NAMES)}")
    if not isinstance(raw["target_column"], str) or not raw["target_column"]:
        raise ValueError(f"{where}: target_column must be a non-empty string")
    positive = raw["positive_class"]
    if kind == BINARY and (not isinstance(positive, str) or not positive):
        raise ValueError(f"{where}: positive_class must be a non-empty string for kind {kind}")
    if kind != BINARY and positive is not None:
        raise ValueError(
            f"{where}: positive_class must be null for kind {kind}; "
            f"only a {BINARY} model has a positive class"
        )
    sensitive = raw["sensitive_column"]
    if sensitive is not None and (not isinstance(sensitive, str) or not sensitive):
        raise ValueError(f"{where}: sensitive_column must be a column name or null")
    features = raw["features"]
    if (
        not isinstance(features, list)
        or not features
        or not all(isinstance(name, str) and name for name in features)
    ):
        raise ValueError(f"{where}: features must be a non-empty list of column names")
    if len(set(features)) != len(features):
        raise ValueError(f"{where}: features names a column more than once")
    clash = {raw["target_column"], sensitive} & set(features)
    if clash:
        raise ValueError(f"{where}: features names {', '.join(sorted(map(str, clash)))}")
    return ColumnRoles(raw["target_column"], positive, sensitive, tuple(features), kind)


def read_roles(path: Path) -> ColumnRoles:
    """The column roles in the JSON file ``path``; raises ValueError (or OSError) naming it."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: not a JSON file ({error})") from None
    return roles_from_dict(raw, str(path))


# -- labels --------------------------------------------------------------------


def is_boolean(values: pd.Series) -> bool:
    """Whether ``values`` holds only true/false (and gaps): a bool column, or
    one pandas read as objects because it has gaps."""
    if pd.api.types.is_bool_dtype(values):
        return True
    if values.dtype != object:
        return False
    present = values.dropna()
    return len(present) > 0 and all(isinstance(v, bool | np.bool_) for v in present.unique())


def label_text(values: pd.Series) -> pd.Series:
    """Labels as text, the way ``data.positive_class`` names them: booleans read
    ``true``/``false``, whole floats (a number column read with gaps) lose
    their ``.0``, anything else as written."""
    if is_boolean(values):
        return values.map({True: "true", False: "false"}).astype(object)
    present = values.dropna()
    if pd.api.types.is_float_dtype(values) and (present == present.round()).all():
        return values.map(lambda v: str(int(v)) if pd.notna(v) else "nan")
    return values.astype(str)


def label_key(positive_class: str) -> str:
    """``positive_class`` as ``label_text`` writes it: ``True`` or ``TRUE`` is ``true``."""
    lowered = positive_class.lower()
    return lowered if lowered in BOOLEAN_WORDS else positive_class


def encode_target(values: pd.Series, positive_class: str) -> tuple[pd.Series, tuple[str, str]]:
    """Map a two-valued target to 0/1 (1 where it reads ``positive_class``);
    returns the codes and the labels of class 0 and class 1."""
    text = label_text(values)
    distinct = sorted(text.unique())
    if len(distinct) != 2:
        raise ValueError(f"target must have exactly two values, found {len(distinct)}")
    positive = label_key(positive_class)
    if positive not in distinct:
        raise ValueError(f"positive class {positive_class!r} is not one of {distinct}")
    negative = next(value for value in distinct if value != positive)
    return (text == positive).astype("int8"), (negative, positive)


# -- features ------------------------------------------------------------------


def feature_kind(values: pd.Series) -> str:
    """``boolean``, ``numeric`` or ``text``, by the column's content."""
    if is_boolean(values):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    return "text"


def normalize_features(table: pd.DataFrame, features: tuple[str, ...]) -> pd.DataFrame:
    """Store each feature column of ``table`` in the type of its kind, as the
    prep step saves it: booleans as pandas' nullable ``boolean``, text as
    Python strings (gaps as NaN), numbers unchanged. Changes ``table`` in place
    (a copy of millions of rows would double the memory) and returns it."""
    for name in features:
        values = table[name]
        kind = feature_kind(values)
        if kind == "boolean" and not pd.api.types.is_bool_dtype(values):
            table[name] = values.astype("boolean")
        elif kind == "text" and values.map(type, na_action="ignore").ne(str).any():
            table[name] = values.map(str, na_action="ignore")
    return table


# MLflow signature type of each numpy dtype kind (b: bool, i/u: integers, f: floats).
_SIGNATURE_TYPES = {"b": "boolean", "i": "long", "u": "long", "f": "double"}


def signature_type(values: pd.Series) -> str:
    """The MLflow type that records ``values``' real type: text stays ``string``."""
    kind = feature_kind(values)
    if kind == "boolean":
        return "boolean"
    if kind == "text":
        return "string"
    if values.dtype == np.float32:
        return "float"
    if values.dtype in (np.int32, np.int16, np.int8):
        return "integer"
    return _SIGNATURE_TYPES[values.dtype.kind]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the MLflow signature type: double, float, long, integer, boolean, string
    nullable: bool  # the column had gaps in training

    @property
    def kind(self) -> str:
        """``text``, ``boolean`` or ``numeric``."""
        return {"string": "text", "boolean": "boolean"}.get(self.type, "numeric")


@dataclass(frozen=True)
class Contract:
    roles: ColumnRoles | None  # None for a model saved before data_contract.json
    labels: tuple[str, ...]  # what class 0, 1, ... stands for; none for regression
    columns: tuple[Column, ...]
    categories: dict[str, list[str]]  # text feature -> categories seen in training

    @property
    def kind(self) -> str:
        """What the model predicts; a model saved before its roles were is binary."""
        return self.roles.kind if self.roles is not None else BINARY

    def model_frame(self, table: pd.DataFrame) -> pd.DataFrame:
        """The model's input from ``table``: see ``model_frame``."""
        return model_frame(self.columns, table)

    def to_dict(self) -> dict:
        if self.roles is None:
            raise ValueError("a contract without column roles cannot be saved")
        return {
            "format": FORMAT,
            **self.roles.to_dict(),
            "labels": {str(code): label for code, label in enumerate(self.labels)},
            "categories": self.categories,
        }


def model_frame(columns: tuple[Column, ...], table: pd.DataFrame) -> pd.DataFrame:
    """The model's input for features ``columns`` from ``table`` (which holds at
    least those; a column may also hold Python values, None for a gap):
    numbers and booleans as float64, text as strings, a gap as NaN.

    The numbers are written straight into one float64 block, the text
    columns inserted beside it: a column-by-column frame would be copied
    once more when pandas consolidates it (gigabytes on ten million rows)."""
    numeric = [column.name for column in columns if column.kind != "text"]
    block = np.empty((len(numeric), len(table)), dtype="float64")
    for row, name in enumerate(numeric):
        values = table[name]
        if isinstance(values.dtype, pd.BooleanDtype):
            block[row] = values.to_numpy(dtype="float64", na_value=np.nan)
        else:
            block[row] = values.to_numpy(dtype="float64")
    # The transpose is the layout pandas keeps a block in, so it is not copied.
    frame = pd.DataFrame(block.T, columns=numeric, index=table.index, copy=False)
    for position, column in enumerate(columns):
        if column.kind == "text":
            values = table[column.name]
            frame.insert(position, column.name, values.astype(object).where(values.notna()))
    return frame


def describe_features(
    table: pd.DataFrame,
    roles: ColumnRoles,
    labels: tuple[str, ...],
    gaps: set[str] = frozenset(),
) -> Contract:
    """The contract of a model trained on the features of ``table`` (normalized by
    the prep step) to predict the classes ``labels`` (in code order; none for
    regression); a feature may be missing if it has a gap in ``table`` or is
    in ``gaps``."""
    columns = tuple(
        Column(
            name=name,
            type=signature_type(table[name]),
            nullable=name in gaps or bool(table[name].isna().any()),
        )
        for name in roles.features
    )
    categories = {
        column.name: sorted(table[column.name].dropna().unique().tolist())
        for column in columns
        if column.kind == "text"
    }
    return Contract(roles, labels, columns, categories)


def input_schema(contract: Contract):
    """The MLflow input schema of ``contract``'s features (required = no gaps in training)."""
    from mlflow.types import ColSpec, Schema

    return Schema([ColSpec(c.type, c.name, required=not c.nullable) for c in contract.columns])


def save_contract(model_dir: Path, contract: Contract) -> Path:
    """Write ``data_contract.json`` into the saved model's folder."""
    path = Path(model_dir) / CONTRACT_FILE
    path.write_text(json.dumps(contract.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def load_contract(model_dir: Path) -> Contract:
    """The contract of the MLflow model in ``model_dir``: its signature plus
    ``data_contract.json``. A model saved before that file existed is described
    by its signature alone (``roles`` None, labels "0" and "1"), so a version
    registered then can still be served or rolled back to. Raises ValueError
    naming what is missing or inconsistent."""
    from mlflow.models import Model

    model_dir = Path(model_dir)
    spec = Model.load(str(model_dir)).get_input_schema()
    if spec is None or not spec.has_input_names():
        raise ValueError(f"{model_dir}: the model has no input signature with column names")
    columns = tuple(Column(col.name, col.type.name, not col.required) for col in spec.inputs)
    path = model_dir / CONTRACT_FILE
    if not path.is_file():
        return Contract(None, ("0", "1"), columns, {})
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("format") not in FORMATS:
        raise ValueError(
            f"{path}: format {raw.get('format')!r}, expected one of {', '.join(map(str, FORMATS))}"
        )
    keys = ROLE_KEYS if raw["format"] == 1 else (*ROLE_KEYS, "kind")
    roles = roles_from_dict({key: raw.get(key) for key in keys}, str(path))
    if [c.name for c in columns] != list(roles.features):
        raise ValueError(f"{path}: its features and the model's signature disagree")
    labels = raw.get("labels", {})
    if raw["format"] == 1:
        return Contract(
            roles, (labels.get("0"), labels.get("1")), columns, raw.get("categories", {})
        )
    if not isinstance(labels, dict) or list(labels) != [str(code) for code in range(len(labels))]:
        raise ValueError(f'{path}: labels must map the class codes "0", "1", ... in order')
    return Contract(roles, tuple(labels.values()), columns, raw.get("categories", {}))
