"""The endpoint comes back by itself: a killed router, its supervisor, a gunicorn master
or a worker, under a bounded client load, with real signals against the real processes
(the scoring server serves a stand-in script: conftest.py)."""

import json
import os
import signal
import threading
import time
from itertools import pairwise

from mlops.targets.local.endpoint import processes
from tests.conftest import wait_until
from tests.mlops.targets.local.endpoint.conftest import Load, cmdline, score

ROUTER = "mlops.targets.local.endpoint.router"


def router_processes(endpoint) -> tuple[list[int], list[int]]:
    """(supervisors, routers) of the endpoint, by their command lines."""
    pids = processes.find(endpoint.router_marker)
    routers = [pid for pid in pids if ROUTER in cmdline(pid)]
    return [pid for pid in pids if pid not in routers], routers


def server_processes(endpoint, name: str) -> tuple[int | None, list[int]]:
    """(master, workers) of deployment ``name``'s server."""
    master = processes.leaders({endpoint.server_marker(name)}).get(endpoint.server_marker(name))
    pids = processes.find(endpoint.server_marker(name))
    return (master[0] if master else None), [p for p in pids if not master or p != master[0]]


def serving(served) -> bool:
    supervisors, routers = router_processes(served.endpoint)
    master, workers = server_processes(served.endpoint, "blue")
    return (
        len(supervisors) == 1
        and len(routers) == 1
        and master is not None
        and len(workers) == 2
        and score(served.url).status == 200
    )


def test_a_killed_router_serves_again_within_5_s_by_itself(standin_endpoint):
    served = standin_endpoint
    wait_until(lambda: serving(served))
    (supervisor,), (router,) = router_processes(served.endpoint)
    with Load(served.url) as load:
        killed = time.monotonic()
        os.kill(router, signal.SIGKILL)
        wait_until(lambda: load.served_again(killed))
        time.sleep(0.5)
    back = load.served_again(killed) - killed
    assert back < 5, f"served again {back:.1f} s after the router was killed"
    # The socket stayed open: a connection made meanwhile waited for the next
    # router; at most the request the dead router held was lost, none refused.
    failed = [a for a in load.after(killed - 1) if a.status != 200]
    assert len(failed) <= 1, failed
    assert not [a for a in failed if "refused" in a.error.lower()], failed
    assert all(a.status == 200 for a in load.after(killed + back))
    supervisors, routers = router_processes(served.endpoint)
    assert supervisors == [supervisor] and routers and routers != [router]


def test_a_killed_supervisor_is_replaced_and_then_brings_back_the_router(standin_endpoint):
    served = standin_endpoint
    wait_until(lambda: serving(served))
    (supervisor,), (router,) = router_processes(served.endpoint)
    with Load(served.url) as load:
        os.kill(supervisor, signal.SIGKILL)
        # The router notices and starts a supervisor that adopts it; nothing is lost.
        wait_until(lambda: router_processes(served.endpoint)[0] not in ([], [supervisor]))
        (adopter,) = router_processes(served.endpoint)[0]
        assert "--adopt" in cmdline(adopter) and str(router) in cmdline(adopter)
        assert all(a.status == 200 for a in load.answers)
        killed = time.monotonic()
        os.kill(router, signal.SIGKILL)
        wait_until(lambda: load.served_again(killed))
    back = load.served_again(killed) - killed
    assert back < 5, f"served again {back:.1f} s after the router was killed"
    supervisors, routers = router_processes(served.endpoint)
    assert supervisors == [adopter] and routers and routers != [router]


def test_a_killed_master_is_noticed_and_its_outage_ends_within_10_s(standin_endpoint):
    served = standin_endpoint
    wait_until(lambda: serving(served))
    master, workers = server_processes(served.endpoint, "blue")
    with Load(served.url) as load:
        killed = time.monotonic()
        os.kill(master, signal.SIGKILL)

        # Its workers live on, orphaned, with the master's command line: the router
        # must still see the server as dead, stop them and start it again.
        def new(answer):
            return answer.status == 200 and answer.body.get("pid") not in workers

        wait_until(lambda: any(new(a) for a in load.after(killed)))
        time.sleep(0.5)
    back = next(a.ended for a in load.after(killed) if new(a)) - killed
    outage = [a for a in load.after(killed) if a.status != 200]
    assert back < 10, f"served by a new server {back:.1f} s after its master was killed"
    assert all(a.ended - killed < 10 for a in outage), outage[-1:]
    assert {a.status for a in outage} <= {503}, outage[:5]
    assert all(a.body.get("message") for a in outage), outage[:5]
    assert not set(processes.find(served.endpoint.server_marker("blue"))) & {master, *workers}
    assert served.endpoint.get().deployment("blue").state == "Succeeded"


def test_a_killed_worker_costs_no_request(standin_endpoint):
    served = standin_endpoint
    wait_until(lambda: serving(served))
    # A request held by the worker that dies is sent once more, to the other one.
    for old in served.busy.iterdir():
        old.unlink()
    slow = {}
    holder = threading.Thread(
        target=lambda: slow.update(answer=score(served.url, json.dumps({"delay": 3}).encode()))
    )
    with Load(served.url) as load:
        holder.start()
        wait_until(lambda: any(served.busy.iterdir()))
        (busy,) = [int(path.name) for path in served.busy.iterdir()]
        killed = time.monotonic()
        os.kill(busy, signal.SIGKILL)
        holder.join(30)
        time.sleep(1)
    assert slow["answer"].status == 200 and slow["answer"].body["pid"] != busy, slow
    assert all(a.status == 200 for a in load.answers), [a for a in load.answers if a.status != 200]
    # The gap: the longest wait for an answer around the kill, with the other
    # worker serving while gunicorn starts the dead one's replacement.
    around = [a for a in load.answers if a.ended > killed - 1]
    gap = max(later.ended - earlier.ended for earlier, later in pairwise(around))
    assert gap < 2, f"{gap:.2f} s without an answer after a worker was killed"
    wait_until(lambda: len(server_processes(served.endpoint, "blue")[1]) == 2)
