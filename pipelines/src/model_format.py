"""The tabular kinds' model file format, skops, imported as the steps need it.

Imported first by the steps that save or load a model (train, evaluate,
score): MLflow imports skops on loading one, and imported before MLflow,
its scan of the loaded modules for its trusted types takes half a second
less.

That scan (``sklearn.utils.all_estimators``) walks every scikit-learn
package with ``pkgutil.walk_packages``, which imports each package it
descends into, the vendored array API adapter for torch among them: where
torch is installed (the text-generation kind's packages), that alone
imports torch, a second or more in every process and hundreds of MB. A
tabular model never hands scikit-learn a torch array, so the adapter is
marked as absent before the scan, unless this process imported it already.
"""

import sys

sys.modules.setdefault("sklearn.externals.array_api_compat.torch", None)

import skops.io  # noqa: E402, F401
