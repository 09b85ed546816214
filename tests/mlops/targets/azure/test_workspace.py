"""Which workspace the Azure target uses: the environment first, then config.json."""

from __future__ import annotations

import json

import pytest

from mlops.targets.azure.workspace import WorkspaceError, read_coordinates

ENVIRON = {
    "AZURE_SUBSCRIPTION_ID": "sub",
    "AZURE_RESOURCE_GROUP": "rg",
    "AZUREML_WORKSPACE_NAME": "ws",
    "AZUREML_COMPUTE": "cpu-cluster",
}


def test_the_variables_stack_env_writes_name_the_workspace_and_its_compute(tmp_path):
    found = read_coordinates(tmp_path, ENVIRON)
    assert (found.subscription, found.resource_group, found.workspace, found.compute) == (
        "sub",
        "rg",
        "ws",
        "cpu-cluster",
    )


def test_a_missing_variable_is_named(tmp_path):
    environ = {k: v for k, v in ENVIRON.items() if k != "AZURE_RESOURCE_GROUP"}
    with pytest.raises(WorkspaceError, match="^AZURE_RESOURCE_GROUP not set"):
        read_coordinates(tmp_path, environ)


def test_config_json_is_found_as_ml_client_from_config_finds_it(tmp_path):
    (tmp_path / ".azureml").mkdir()
    config = {"subscription_id": "s", "resource_group": "r", "workspace_name": "w"}
    (tmp_path / ".azureml" / "config.json").write_text(json.dumps(config))
    project = tmp_path / "project"
    project.mkdir()

    found = read_coordinates(project, {"AZUREML_COMPUTE": "gpu"})

    assert (found.workspace, found.compute) == ("w", "gpu")
    assert found.source == str(tmp_path / ".azureml" / "config.json")


def test_a_config_json_without_a_key_names_the_file_and_the_key(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"subscription_id": "s"}))
    with pytest.raises(WorkspaceError, match="config.json: key resource_group is missing"):
        read_coordinates(tmp_path, {})


def test_nothing_to_go_on_says_both_ways_to_name_a_workspace(tmp_path):
    with pytest.raises(WorkspaceError) as raised:
        read_coordinates(tmp_path / "nowhere", {})
    assert "set AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZUREML_WORKSPACE_NAME" in str(
        raised.value
    )
    assert "--ml-config .azureml/config.json" in str(raised.value)


class _GitHubTokens:
    """GitHub's OIDC token endpoint as a job sees it: a bearer-protected GET that
    answers {"value": <token>} for the audience asked."""

    def __init__(self):
        import http.server
        import threading

        self.asked: list[tuple[str, str]] = []
        tokens = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                tokens.asked.append((self.path, self.headers.get("Authorization", "")))
                if self.headers.get("Authorization") != "bearer runtime-token":
                    self.send_response(403)
                    self.end_headers()
                    return
                body = json.dumps({"value": f"oidc-{len(tokens.asked)}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/idtoken?api-version=2.0"


@pytest.fixture
def github_tokens():
    tokens = _GitHubTokens()
    yield tokens
    tokens.server.shutdown()


def test_in_a_workflow_each_sign_in_asks_github_for_a_fresh_oidc_token(github_tokens):
    from azure.identity import ClientAssertionCredential, DefaultAzureCredential

    from mlops.targets.azure.workspace import default_credential, github_oidc_token

    job = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": github_tokens.url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runtime-token",
        "AZURE_CLIENT_ID": "00000000-0000-0000-0000-0000000000c1",
        "AZURE_TENANT_ID": "00000000-0000-0000-0000-0000000000aa",
    }
    assert isinstance(default_credential(job), ClientAssertionCredential)
    assert github_oidc_token(job) == "oidc-1"
    assert github_oidc_token(job) == "oidc-2"  # a new one each time: never a stale token
    path, _ = github_tokens.asked[0]
    assert path == "/idtoken?api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchange"
    # Without id-token: write GitHub sets no request variables: az login's credential.
    without = {k: v for k, v in job.items() if not k.startswith("ACTIONS_")}
    assert isinstance(default_credential(without), DefaultAzureCredential)


def test_a_refused_token_request_says_what_the_job_lacks(github_tokens):
    from azure.core.exceptions import ClientAuthenticationError

    from mlops.targets.azure.workspace import github_oidc_token

    job = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": github_tokens.url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "expired",
    }
    with pytest.raises(ClientAuthenticationError, match="needs `permissions: id-token: write`"):
        github_oidc_token(job)
