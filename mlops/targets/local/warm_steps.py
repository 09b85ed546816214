"""Steps started from a warm interpreter: a run's later steps skip the seconds of imports.

A training step spends most of its time importing (scikit-learn, MLflow and its
SQL store take seconds; fitting a model on the sample takes less). While a
run's first step runs, ``WarmStart`` starts ``warm_python.py``, which imports
the third-party modules the later steps' scripts import at their top, once;
each later step whose command is exactly ``python SCRIPT.py ARGS`` then runs
in a child forked from it, as ``python`` would run it: in the component's
code folder, with the step's environment (and nothing else), its output to
the step's log, in a process group of its own that Ctrl-C stops as before,
and the script's exit code. The step's own modules (files of its code
folder) are never preloaded: they are imported fresh by each step.

Anything else runs with ``bash -c`` as before: a command with shell syntax
(a pipe, an expansion, an assignment), an interpreter other than the one the
warm process runs, an environment whose interpreter or native-library
variables differ from the warm one's, or a warm process that did not start.
Only on Linux: fork after these libraries have loaded is not safe on macOS.
"""

from __future__ import annotations

import ast
import json
import os
import re
import select
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlops.pipeline_graph import Step

SERVER = Path(__file__).with_name("warm_python.py")
PYTHONS = ("python", "python3")
# Outside single quotes, any of these means the shell has work to do.
SHELL_SYNTAX = frozenset('$`"\\*?[]{}~!#;&|<>()\n')
# How ``shlex.quote`` writes a single quote inside a quoted value.
QUOTED_QUOTE = '"\'"'
# Variables read as an interpreter or a native library loads: a step whose value
# differs from the warm process's cannot start from it.
LOAD_TIME = re.compile(r"^(PYTHON|LD_|OMP_|MKL_|OPENBLAS_|KMP_|MALLOC_)")
MESSAGE_BYTES = 1 << 16
# How long a closing warm process gets before it is killed.
CLOSE_SECONDS = 5.0


def script_command(command: str) -> list[str] | None:
    """``[python, script, *args]`` when ``command`` is one ``python SCRIPT.py ARGS``
    with nothing for the shell to do but unquote; otherwise None."""
    quoted, rest = False, command
    while rest:
        if rest.startswith("'"):
            quoted = not quoted
        elif not quoted and rest.startswith(QUOTED_QUOTE):
            rest = rest[len(QUOTED_QUOTE) - 1 :]
        elif not quoted and rest[0] in SHELL_SYNTAX:
            return None
        rest = rest[1:]
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if len(words) < 2 or words[0] not in PYTHONS or not words[1].endswith(".py"):
        return None
    return words


def imported_modules(script: Path) -> list[str]:
    """The absolute imports at the top of ``script`` that are not files of its own
    folder, in their order; none when it cannot be read or parsed."""
    try:
        tree = ast.parse(script.read_text(), str(script))
    except (OSError, SyntaxError, ValueError):
        return []
    names: list[str] = []
    statements = list(tree.body)
    while statements:
        node = statements.pop(0)
        if isinstance(node, ast.Try):
            statements[:0] = node.body
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    own = script.parent
    return [
        name
        for name in dict.fromkeys(names)
        if name != "__future__"
        and not (own / f"{name.split('.')[0]}.py").exists()
        and not (own / name.split(".")[0]).is_dir()
    ]


class WarmProcess:
    """A step forked by the warm interpreter; ``pid``, ``stdout``, ``poll`` and
    ``wait`` as on ``subprocess.Popen`` (``returncode`` as Popen's)."""

    def __init__(self, channel: socket.socket, pid: int, stdout) -> None:
        self._channel = channel
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._channel], [], [], 0)[0]:
            self._receive()
        return self.returncode

    def wait(self) -> int:
        while self.returncode is None:
            self._receive()
        return self.returncode

    def _receive(self) -> None:
        try:
            message = self._channel.recv(MESSAGE_BYTES)
        except OSError:
            message = b""
        if not message:
            # The warm interpreter died; the step's code is unknown, so it failed.
            self.returncode = 1
            return
        self.returncode = int(json.loads(message)["exit"])


class WarmStart:
    """Starts, for one run, the warm interpreter its later steps fork from.

    ``base_env`` is the environment every step's starts from (the step's own
    variables are added on top); ``preload`` names modules to import beyond
    the scripts' own (what a library they import imports lazily, such as
    MLflow's tracking store), each only when the scripts import its library.
    ``label`` (the run's folder) is on its command line, and so on the steps'
    it forks, for ``ps`` and ``pgrep`` to find. Use as a context manager: the
    warm process ends with it.
    """

    def __init__(
        self, base_env: Mapping[str, str], preload: Sequence[str] = (), label: str = ""
    ) -> None:
        self._base = dict(base_env)
        self._label = label
        self._preload = list(preload)
        self._python = _resolve("python", self._base)
        self._process: subprocess.Popen | None = None
        self._channel: socket.socket | None = None
        self._ready: bool | None = None

    def __enter__(self) -> WarmStart:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def prepare(self, later: Sequence[Step]) -> None:
        """Start the warm interpreter, once, for the ``later`` steps that can use
        it (none: nothing starts)."""
        if self._process is not None or self._python is None or sys.platform != "linux":
            return
        modules = []
        for step in later:
            words = script_command(_template_start(step.command))
            if words is not None and step.code is not None:
                modules += imported_modules(Path(step.code) / words[1])
        if not modules:
            return
        # The extras of a library the scripts import, after the scripts' own.
        tops = {name.split(".")[0] for name in modules}
        modules += [name for name in self._preload if name.split(".")[0] in tops]
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = subprocess.Popen(
                [
                    self._python,
                    str(SERVER),
                    str(theirs.fileno()),
                    self._label,
                    *dict.fromkeys(modules),
                ],
                env=self._base,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            mine.close()
            self._ready = False
            return
        finally:
            theirs.close()
        self._channel = mine

    def start(self, command: str, cwd: Path, env: Mapping[str, str]) -> WarmProcess | None:
        """``command`` started from the warm interpreter, or None when it cannot be
        (see the module docstring): the caller runs it with bash instead."""
        words = script_command(command)
        if words is None or not self._fits(words[0], env) or not self._wait_ready():
            return None
        reading, writing = os.pipe()
        try:
            request = {
                "argv": words[1:],
                "cwd": str(cwd),
                "env": dict(env),
                "executable": shutil.which(words[0], path=env.get("PATH", os.defpath)),
            }
            socket.send_fds(self._channel, [json.dumps(request).encode()], [writing])
            reply = self._channel.recv(MESSAGE_BYTES)
        except OSError:
            reply = b""
        finally:
            os.close(writing)
        if not reply:
            os.close(reading)
            self._ready = False
            return None
        stdout = os.fdopen(reading, "r", errors="replace")
        return WarmProcess(self._channel, int(json.loads(reply)["pid"]), stdout)

    def close(self) -> None:
        """End the warm interpreter: at once when no step ever started from it (it
        may still be importing), else once it has seen the socket close."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._process is not None:
            if not self._ready:
                self._process.kill()
            try:
                self._process.wait(CLOSE_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def _fits(self, python: str, env: Mapping[str, str]) -> bool:
        if self._python is None or _resolve(python, env) != self._python:
            return False
        for name in {*env, *self._base}:
            if LOAD_TIME.match(name) and env.get(name) != self._base.get(name):
                return False
        return True

    def _wait_ready(self) -> bool:
        if self._ready is None and self._channel is not None:
            try:
                message = self._channel.recv(MESSAGE_BYTES)
            except OSError:
                message = b""
            self._ready = bool(message) and bool(json.loads(message).get("ready"))
        return bool(self._ready)


def _template_start(command: str) -> str:
    """The command up to its first placeholder: the interpreter and script."""
    return command.split("${{", 1)[0].split("$[[", 1)[0]


def _resolve(python: str, env: Mapping[str, str]) -> str | None:
    """The path ``python`` runs in ``env``: the folder it was found in is kept (a
    virtual environment's interpreter is a link to the one it was made from)."""
    found = shutil.which(python, path=env.get("PATH", os.defpath))
    if found is None:
        return None
    folder = os.path.dirname(os.path.abspath(found))
    return os.path.join(folder, os.path.basename(os.path.realpath(found)))
