"""The data collector's records, received by the router for each deployment that
collects and written where and as Azure ML writes them.

The sender is Azure ML's own collector (azureml-ai-monitoring), configured as
``servers.py`` configures a scoring server, in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest

from mlops.targets.local.child_env import child_env
from mlops.targets.local.endpoint.collection import LOG_PATH, server_environment
from mlops.targets.local.endpoint.state import EndpointState
from tests.conftest import free_port, wait_until
from tests.mlops.targets.local.endpoint.conftest import deployment_entry, start_standin

TOKEN = "collection-test-token"

# Collects two rows as model_inputs and their answer as model_outputs, joined by
# the context the first call returns, then waits for the collector's thread.
SENDER = """
import pandas as pd
from azureml.ai.monitoring import Collector
from azureml.ai.monitoring.init import teardown
inputs, outputs = Collector(name="model_inputs"), Collector(name="model_outputs")
context = inputs.collect(pd.DataFrame({"AGE": [35, 52], "CITY": ["Paris", None]}))
outputs.collect(pd.DataFrame({"prediction": [0, 1], "probability": [0.2, 0.9]}), context)
teardown(wait_for_flush=True)
"""


@pytest.fixture
def collecting(tmp_path):
    """A router in front of stand-in blue, which collects model_inputs and
    model_outputs: (router status URL, the deployment's folder, its entry, the
    folder the records go to)."""
    folder = tmp_path / "state" / "endpoints" / "e"
    blue = free_port()
    standin = start_standin(blue, str(folder / "deployments" / "blue"))
    item = {
        **deployment_entry(blue),
        "collections": {"model_inputs": 1.0, "model_outputs": 0.5},
        "collector_port": free_port(),
    }
    state = EndpointState(folder)
    port = free_port()
    state.write(
        {
            "port": port,
            "router": {"token": TOKEN},
            "traffic": {"blue": 100},
            "deployments": {"blue": item},
        }
    )
    module = "mlops.targets.local.endpoint.router"
    router = subprocess.Popen(
        [sys.executable, "-m", module, "--state", str(state.path), "--port", str(port)],
        env=child_env({"MLOPS_ROUTER_TOKEN": TOKEN}),
    )
    url = f"http://127.0.0.1:{port}/-/router"
    wait_until(lambda: "blue" in (status(url) or {}).get("collected", {}).get("receiving", []))
    yield url, folder / "deployments" / "blue", item, tmp_path / "state" / "collected" / "e"
    for process in (router, standin):
        process.kill()
        process.wait()


def status(url: str) -> dict | None:
    request = urllib.request.Request(url, headers={"x-mlops-router-token": TOKEN})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())
    except OSError:
        return None


def records(root, collection: str) -> list[tuple[str, dict]]:
    """(path under ``root``, record) of every line collected as ``collection``."""
    return [
        (str(path.relative_to(root)), json.loads(line))
        for path in sorted((root / "blue" / collection).rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_the_collectors_records_are_written_where_and_as_azure_writes_them(collecting):
    url, folder, item, root = collecting
    folder.mkdir(parents=True)
    environment = server_environment(folder, item)
    config = json.loads((folder / "mdc.json").read_text())
    assert config["collections"]["model_outputs"] == {"enabled": True, "sampleRatePercentage": 50}
    # Half of the outputs are sampled: collect them all here.
    config["collections"]["model_outputs"]["sampleRatePercentage"] = 100
    (folder / "mdc.json").write_text(json.dumps(config))
    sent = subprocess.run(
        [sys.executable, "-c", SENDER],
        env=child_env(environment),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sent.returncode == 0, sent.stderr
    wait_until(lambda: status(url)["collected"]["written"] == 2, what="both records")

    (inputs,) = records(root, "model_inputs")
    (outputs,) = records(root, "model_outputs")
    for (path, record), collection in ((inputs, "model_inputs"), (outputs, "model_outputs")):
        when = datetime.strptime(record["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert path.startswith(f"blue/{collection}/{when:%Y/%m/%d/%H}/")
        assert path.endswith(".jsonl")
        assert record["specversion"] == "1.0"
        assert record["type"] == f"azureml.inference.{collection}"
        assert record["source"] == "/local/onlineEndpoints/e/deployments/blue"
        assert record["collectdatatype"] == "pandas.core.frame.DataFrame"
        assert record["agent"].startswith("azureml-ai-monitoring/")
        assert record["datacontenttype"] == "application/json"
    assert inputs[1]["data"] == [{"AGE": 35, "CITY": "Paris"}, {"AGE": 52, "CITY": None}]
    assert outputs[1]["data"] == [
        {"prediction": 0, "probability": 0.2},
        {"prediction": 1, "probability": 0.9},
    ]
    # One call's inputs and outputs are joined by its correlation id.
    assert inputs[1]["correlationid"] == outputs[1]["correlationid"] == inputs[1]["xrequestid"]
    assert inputs[1]["id"] != outputs[1]["id"]


@pytest.mark.parametrize(
    ("headers", "body", "named"),
    [
        ({"ce-type": "azureml.inference.../../escape"}, b"[]", "names no collection"),
        ({"ce-type": "something.else"}, b"[]", "names no collection"),
        ({"ce-type": "azureml.inference.model_inputs"}, b"{not json", "is not JSON"),
        ({"ce-type": "azureml.inference.model_inputs"}, b"[NaN]", "NaN or infinity"),
    ],
)
def test_a_post_that_is_no_record_is_refused_and_nothing_is_written(
    collecting, headers, body, named
):
    url, _, item, root = collecting
    request = urllib.request.Request(
        f"http://127.0.0.1:{item['collector_port']}{LOG_PATH}",
        data=body,
        headers={"Content-Type": "application/json", **headers},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    assert named in json.loads(refused.value.read())["message"]
    assert status(url)["collected"] == {"receiving": ["blue"], "written": 0, "refused": 1}
    assert not root.exists() or not any(root.rglob("*.jsonl"))


def test_a_deployment_that_collects_nothing_gets_no_collector_settings(tmp_path):
    item = {"collections": {}, "collector_port": None}
    assert server_environment(tmp_path, item) == {}
    assert not (tmp_path / "mdc.json").exists()
