"""The router as a process: routing, its admin view, limits, slow clients, replacement.

Deployments are stand-ins (conftest.py); the router is the real one."""

import http.client
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from mlops.targets.local.child_env import child_env
from mlops.targets.local.endpoint.probes import TOKEN_HEADER
from mlops.targets.local.endpoint.router import HEADER_SECONDS
from mlops.targets.local.endpoint.state import EndpointState
from tests.conftest import free_port, wait_until
from tests.mlops.targets.local.endpoint.conftest import deployment_entry

TOKEN = "router-test-token"


@pytest.fixture
def routed(tmp_path, standins):
    """A router in front of stand-ins blue (100 %) and green (0 %)."""
    blue, _ = standins("blue")
    green, _ = standins("green")
    state = EndpointState(tmp_path / "e")
    port = free_port()
    state.write(
        {
            "port": port,
            "router": {"token": TOKEN},
            "traffic": {"blue": 100, "green": 0},
            "deployments": {
                "blue": deployment_entry(blue),
                "green": deployment_entry(green, status="creating"),
            },
        }
    )
    module = "mlops.targets.local.endpoint.router"
    router = subprocess.Popen(
        [sys.executable, "-m", module, "--state", str(state.path), "--port", str(port)],
        env=child_env({"MLOPS_ROUTER_TOKEN": TOKEN}),
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: status(url) is not None)
    yield url, state, router
    router.kill()
    router.wait()


def post(url, body=b"{}", headers=None):
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers.get("azureml-model-deployment"), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, None, error.read()


def status(url, token=TOKEN):
    request = urllib.request.Request(f"{url}/-/router", headers={TOKEN_HEADER: token})
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:
            return json.loads(answer.read())
    except OSError:
        return None


def raw(url: str, data: bytes) -> tuple[socket.socket, bytes]:
    port = int(url.rsplit(":", 1)[1])
    connection = socket.create_connection(("127.0.0.1", port), timeout=5)
    connection.sendall(data)
    return connection, connection.recv(65536)


def test_scoring_goes_by_the_map_or_by_the_header(routed):
    url, *_ = routed
    assert {post(f"{url}/score")[1] for _ in range(10)} == {"blue"}
    assert post(f"{url}/score", headers={"azureml-model-deployment": "green"})[:2] == (200, "green")
    code, _, body = post(f"{url}/score", headers={"azureml-model-deployment": "purple"})
    assert code == 404 and b"no deployment named 'purple'" in body


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/-/router"), ("GET", "/"), ("POST", "/admin"), ("GET", "/score")]
)
def test_only_scoring_is_reachable_without_the_token(routed, method, path):
    url, *_ = routed
    request = urllib.request.Request(f"{url}{path}", method=method)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 404
    assert status(url, token="guess") is None
    assert status(url)["revision"] == 1


def test_a_body_over_the_limit_is_refused_before_it_is_read(routed):
    url, *_ = routed
    started = time.monotonic()
    connection, answer = raw(
        url,
        b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 50000000\r\n\r\n",
    )
    connection.close()
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"larger than 4096 bytes" in answer
    assert time.monotonic() - started < 3


def test_a_chunked_body_over_the_limit_is_refused(routed):
    url, *_ = routed
    code, _, body = post(f"{url}/score", body=iter([b"x" * 3000] * 3))
    assert code == 413 and b"larger than 4096 bytes" in body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /score?q=" + b"A" * 9000 + b"SECRET HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /score HTTP/1.1\r\nHost: x\r\nX-Big: " + b"A" * 9000 + b"SECRET\r\n\r\n",
        b"POST /score HTTP/1.1\r\nHost: x\r\nBad Header SECRET\r\n\r\n",
    ],
    ids=["long query string", "long header", "malformed header"],
)
def test_a_request_it_cannot_parse_is_refused_in_json_without_echoing_it(routed, request_bytes):
    url, *_ = routed
    connection, answer = raw(url, request_bytes)
    connection.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400"
    assert b"Content-Type: application/json" in head
    assert "malformed or too long" in json.loads(body)["message"]
    assert b"SECRET" not in answer and b"AAAA" not in answer


def test_a_connection_that_never_finishes_its_headers_is_closed(routed):
    url, *_ = routed
    port = int(url.rsplit(":", 1)[1])
    slow = []
    for _ in range(50):
        connection = socket.create_connection(("127.0.0.1", port), timeout=30)
        connection.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\n")
        slow.append(connection)
    opened = time.monotonic()
    closed = {}
    while len(closed) < len(slow) and time.monotonic() - opened < 30:
        for number, connection in enumerate(slow):
            if number in closed:
                continue
            try:
                connection.sendall(b"X")  # a byte at a time keeps no connection open
                connection.settimeout(0.01)
                if connection.recv(1) == b"":
                    closed[number] = time.monotonic() - opened
            except TimeoutError:
                pass
            except OSError:
                closed[number] = time.monotonic() - opened
        assert post(f"{url}/score")[0] == 200  # meanwhile, others are served
        time.sleep(0.2)
    for connection in slow:
        connection.close()
    assert len(closed) == len(slow), f"{len(slow) - len(closed)} still open after 30 s"
    assert max(closed.values()) < HEADER_SECONDS + 10
    assert min(closed.values()) > HEADER_SECONDS - 1  # the bound, not a hurry


def test_a_kept_alive_connection_between_requests_is_not_cut_short(routed):
    url, *_ = routed
    port = int(url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(3):
        connection.request("POST", "/score", b"{}", {"Content-Type": "application/json"})
        assert connection.getresponse().read()
        time.sleep(HEADER_SECONDS / 3)
    connection.close()


def test_a_slow_upload_is_not_in_flight_until_it_is_forwarded(routed):
    url, *_ = routed
    port = int(url.rsplit(":", 1)[1])
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(
        b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"x-delay: 2.5\r\nContent-Length: 20\r\n\r\n{}" + b" " * 8
    )
    time.sleep(0.5)
    assert status(url)["inflight"] == {}  # uploading: no deployment is held by it
    connection.sendall(b" " * 10)
    # Forwarded, and answered 2.5 s later (within the deployment's 3 s timeout).
    wait_until(lambda: status(url)["inflight"] == {"blue": 1}, 2.5)
    assert connection.recv(65536).startswith(b"HTTP/1.1 200")
    connection.close()


def test_an_unreadable_state_file_leaves_the_map_in_force(routed):
    url, state, _ = routed
    state.path.write_text('{"traffic": ')
    time.sleep(0.2)
    assert post(f"{url}/score")[:2] == (200, "blue")


def test_a_router_whose_state_names_another_router_exits_once_that_one_answers(routed):
    url, state, router = routed
    current, _ = state.read()
    port = free_port()
    state.write({**current, "port": port, "router": {"token": "successor"}})
    # The state names a router that does not run yet: the one in force keeps serving.
    wait_until(lambda: status(url)["successor"] == port, what="the router to read the state")
    assert post(url + "/score")[0] == 200
    module = "mlops.targets.local.endpoint.router"
    successor = subprocess.Popen(
        [sys.executable, "-m", module, "--state", str(state.path), "--port", str(port)],
        env=child_env({"MLOPS_ROUTER_TOKEN": "successor"}),
    )
    try:
        assert router.wait(20) == 0
        assert post(f"http://127.0.0.1:{port}/score")[0] == 200
    finally:
        successor.kill()
        successor.wait()


def test_a_deployment_whose_model_generates_text_answers_openais_chat_shape(routed):
    url, state, _ = routed
    chat = f"{url}/v1/chat/completions"

    def ask(**extra):
        request = {"model": "any", "messages": [{"role": "user", "content": "write twelve"}]}
        code, name, body = post(chat, json.dumps({**request, **extra}).encode())
        return code, name, json.loads(body)

    code, _, answer = ask()
    assert code == 404
    assert answer["error"]["message"].startswith("deployment blue's model does not generate text")
    current, _ = state.read()
    current["deployments"]["blue"]["chat"] = True
    state.write(current)
    wait_until(lambda: status(url)["revision"] == 2)

    code, name, answer = ask(max_tokens=5)
    assert (code, name) == (200, "blue")
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "credit-default-classifier:1"  # the deployment's model
    # The stand-in answers the last message's words in reverse, as generate_score.py's shape.
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "twelve write"}
    assert answer["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
    # The deployment's refusal of max_new_tokens, in OpenAI's form and under the name sent.
    code, _, answer = ask(max_tokens=99)
    assert code == 400
    message = "max_tokens takes an integer from 1 to 50"
    refusal = {"message": message, "type": "invalid_request_error", "param": "max_tokens",
               "code": None}  # fmt: skip
    assert answer == {"error": refusal}
    code, _, answer = ask(stream=True)
    assert code == 400 and answer["error"]["param"] == "stream"
    # /score still answers as it did.
    assert post(f"{url}/score")[0] == 200
