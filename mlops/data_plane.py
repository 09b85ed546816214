"""The fork's step code (``pipelines/src``), where the control plane needs the
very rules a step applies: registration checks a JSONL file with the prep
step's parser, so a file registered is a file the pipeline takes.

``module(name)`` loads ``pipelines/src/<name>.py`` once, under its own name,
as the steps import it (they put that folder first on their path). Only
modules that import nothing heavy at load time are taken this way.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SOURCE = Path(__file__).resolve().parents[1] / "pipelines" / "src"
# A module -> the modules of pipelines/src it imports at load time.
NEEDS = {
    "chat_data": (),
    "common": (),
    "text_model": ("chat_data",),
    "text_prep": ("chat_data", "common"),
}


def module(name: str) -> ModuleType:
    """``pipelines/src/<name>.py``, loaded (with what it imports from there) once."""
    if name in sys.modules:
        return sys.modules[name]
    for need in NEEDS[name]:
        module(need)
    spec = importlib.util.spec_from_file_location(name, SOURCE / f"{name}.py")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        del sys.modules[name]
        raise
    return loaded
