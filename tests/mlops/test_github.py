import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlops import github
from mlops.errors import UserError


def test_outputs_and_summary_are_appended_only_inside_a_workflow_step(tmp_path):
    outputs, summary = tmp_path / "output", tmp_path / "summary.md"
    environ = {github.OUTPUT: str(outputs), github.SUMMARY: str(summary)}

    github.set_outputs({"verdict": "promote", "gate_report": "a\nb", "deployment": ""}, environ)
    github.set_outputs({"model_version": 3}, environ)
    github.add_summary("## Gate\n", environ)
    github.set_outputs({"verdict": "reject"}, {})  # outside a workflow: nowhere

    assert outputs.read_text() == "verdict=promote\ngate_report=a\ndeployment=\nmodel_version=3\n"
    assert summary.read_text() == "## Gate\n\n"


REVIEWED = {
    "name": "prod",
    "protection_rules": [
        {"id": 1, "type": "wait_timer", "wait_timer": 5},
        {"id": 2, "type": "required_reviewers", "reviewers": [{"type": "User"}]},
    ],
}


@pytest.fixture
def github_api():
    """A stand-in for api.github.com on 127.0.0.1: environments by name, and the
    requests it received."""
    environments: dict[str, dict] = {
        "prod": REVIEWED,
        "dev": {"name": "dev", "protection_rules": []},
    }
    received: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            received.append((self.path, self.headers))
            name = self.path.rpartition("/environments/")[2]
            found = environments.get(name)
            body = json.dumps(found or {"message": "Not Found"}).encode()
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()


def workflow(api: str, environment: str | None, token: str | None = "ghs_secret") -> dict:
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_API_URL": api, "GITHUB_REPOSITORY": "org/fork"}
    if environment:
        environ[github.ENVIRONMENT] = environment
    if token:
        environ["GITHUB_TOKEN"] = token
    return environ


def test_an_override_in_a_workflow_needs_an_environment_with_required_reviewers(github_api):
    api, received = github_api
    github.require_reviewers("--override-gate", workflow(api, "prod"))
    path, headers = received[-1]
    assert path == "/repos/org/fork/environments/prod"
    assert headers["Authorization"] == "Bearer ghs_secret"
    assert headers["X-GitHub-Api-Version"] == github.API_VERSION

    with pytest.raises(UserError) as unreviewed:
        github.require_reviewers("--override-gate", workflow(api, "dev"))
    assert str(unreviewed.value).startswith(
        "--override-gate is refused in this workflow: GitHub environment dev has no required "
        "reviewers"
    )
    with pytest.raises(UserError, match="GitHub answered HTTP 404 for environment staging"):
        github.require_reviewers("--override-gate", workflow(api, "staging"))


@pytest.mark.parametrize(
    ("environment", "token", "said"),
    [(None, "t", "needs MLOPS_GITHUB_ENVIRONMENT"), ("prod", None, "needs GITHUB_TOKEN")],
)
def test_an_override_in_a_workflow_without_what_it_needs_says_what(environment, token, said):
    with pytest.raises(UserError, match=said) as refused:
        github.require_reviewers(
            "--override-gate", workflow("http://127.0.0.1:9", environment, token)
        )
    assert "ghs_secret" not in str(refused.value)


def test_outside_a_workflow_the_person_at_the_keyboard_decides():
    github.require_reviewers("--override-gate", {})  # asks nobody
