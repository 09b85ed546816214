"""A Python interpreter that has imported a step's libraries once and forks per step.

Run by path by ``warm_steps.py`` (``python warm_python.py FD LABEL MODULE...``,
LABEL naming the run it serves, for ``ps``), in
the environment every step shares, never as part of ``mlops``: it imports
nothing but the standard library and ``MODULE...``, the third-party modules
the steps' scripts import (a module that fails to import is left to the step,
which then fails on it as it would anyway).

Over the socket ``FD`` it says ``{"ready": true, "failed": [...]}``, then for
each request ``{"argv": [script, *args], "cwd": ..., "env": {...}}`` (with
the write end of the step's output pipe attached) it forks a child that runs
the script as ``python script args`` would, in a process group of its own,
answers ``{"pid": PID}``, and when the child ends ``{"exit": CODE}`` (CODE as
``Popen.returncode``: negative for a signal). It exits when the socket closes;
a step still running then (its caller was killed) is stopped with it.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import importlib.machinery
import io
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
import types

MESSAGE_BYTES = 1 << 20
# How long a step whose caller went away gets after SIGTERM.
STOP_SECONDS = 5.0


def main(argv: list[str]) -> int:
    channel = socket.socket(fileno=int(argv[0]))
    # A Ctrl-C for the step goes to the step's group; this process only ends
    # when the socket does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    failed = []
    for name in argv[2:]:
        try:
            importlib.import_module(name)
        except BaseException:  # the step meets it again, and fails on it as it would
            failed.append(name)
    _send(channel, {"ready": True, "failed": failed})
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(channel, MESSAGE_BYTES, 1)
        except OSError:
            return 0
        if not message:
            return 0
        request = json.loads(message)
        pid = os.fork()
        if pid == 0:
            channel.close()
            _run_step(request, fds[0])  # never returns
        for fd in fds:
            os.close(fd)
        # Set here as well as in the child, so the group exists before anyone
        # is told the pid and may signal it.
        with contextlib.suppress(OSError):  # the child set it, or has already ended
            os.setpgid(pid, pid)
        try:
            _send(channel, {"pid": pid})
            code = _wait(channel, pid)
            if code is None:
                return 0
            _send(channel, {"exit": code})
        except OSError:
            _stop(pid)
            return 0


def _wait(channel: socket.socket, pid: int) -> int | None:
    """The exit code of the child ``pid``; None when the caller went away first (it
    sends nothing while a step runs, so the socket is closing), its group stopped."""
    try:
        ended = os.pidfd_open(pid)
    except OSError:  # a kernel older than 5.3: look every 0.2 s
        ended = None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            watched = [channel] if ended is None else [channel, ended]
            readable, _, _ = select.select(watched, [], [], 0.2 if ended is None else None)
            if channel in readable:
                _stop(pid)
                return None
    finally:
        if ended is not None:
            os.close(ended)


def _stop(pid: int) -> None:
    """Stop the group of the child ``pid``: SIGTERM, and SIGKILL after a grace."""
    for number in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, number)
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0]:
                    return
            time.sleep(0.05)


def _send(channel: socket.socket, message: dict) -> None:
    channel.send(json.dumps(message).encode())  # a SOCK_SEQPACKET: one message a send


def _run_step(request: dict, output: int) -> None:
    """In the forked child: become ``python script args`` in ``cwd`` with ``env``."""
    code = 1
    try:
        os.setpgid(0, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # What `bash -c "python ..."` adds to the environment it execs python with.
        os.environ["PWD"] = os.getcwd()
        os.environ.setdefault("SHLVL", "0")
        os.environ["_"] = request["executable"]
        script, *_ = sys.argv[:] = request["argv"]
        path = os.path.abspath(script)
        # Its process name (ps -o comm, top): the script's, not this file's.
        with contextlib.suppress(OSError), open("/proc/self/comm", "w") as name:
            name.write(os.path.basename(script)[:15])
        # As `python script`: the script's folder first on the search path.
        sys.path[0] = os.path.dirname(path)
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            # A fresh interpreter seeds numpy's global generator from the OS; a
            # forked one would repeat the parent's numbers in every step.
            numpy.random.seed()
        code = _run_script(path)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _run_script(path: str) -> int:
    """Run ``path`` as the ``__main__`` module, as ``python path`` does (``__file__``
    absolute, ``sys.argv`` untouched); the exit code it would end with."""
    try:
        main = types.ModuleType("__main__")
        main.__file__ = path
        main.__cached__ = None
        main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
        sys.modules["__main__"] = main  # so that what it pickles is found again
        with io.open_code(path) as source:
            code = compile(source.read(), path, "exec")
        exec(code, main.__dict__)
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        print(stop.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        traceback.print_exc()
        # As the interpreter does: end by the signal, so the caller sees -SIGINT.
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        return 130
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
