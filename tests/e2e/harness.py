"""
The end-to-end harness: the real `cartback` command line as a subprocess, and a running
`cartback serve`.

Commands run to completion are forked from a zygote that has imported `cartback` once
(`cli_zygote.py`): a real process per command with its own arguments, environment, working
directory and streams. `CARTBACK_TEST_CLI_EXEC=1`, or `Cli(fork=False)`, runs each one as
`python -m cartback` instead; long-running commands (`start`) always do.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

STARTUP_TIMEOUT = 30.0
EXEC_EACH = os.environ.get("CARTBACK_TEST_CLI_EXEC", "") == "1"


class _Zygote:
    """
    The forking process of this test session, started on first use.
    """

    def __init__(self) -> None:
        self._directory = tempfile.mkdtemp(prefix="cartback-zygote-")
        self.socket_path = os.path.join(self._directory, "zygote.sock")
        self._spawned: list[ForkedProcess] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARTBACK_")}
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("cli_zygote.py")), self.socket_path],
            env=env,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != b"ready":
            raise AssertionError("the CLI zygote did not start")

    def spawn(
        self,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        stdout: Path,
        stderr: Path | None,
        stdin: Path | None = None,
    ) -> ForkedProcess:
        """
        Fork a child that runs `cartback argv…` (`stderr` None: into `stdout`; `stdin` None:
        the null device).
        """
        for path in (stdout, stderr):
            if path is not None:
                path.write_bytes(b"")  # there at once, as with Popen
        request = {
            "argv": argv,
            "env": env,
            "cwd": str(cwd),
            "stdout": str(stdout),
            "stderr": None if stderr is None else str(stderr),
            "stdin": None if stdin is None else str(stdin),
        }
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(self.socket_path)
        connection.sendall(json.dumps(request).encode() + b"\n")
        process = ForkedProcess(["cartback", *argv], connection)
        self._spawned.append(process)
        return process

    def run(
        self,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        timeout: float,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """
        Run `cartback argv…` to completion (killed past `timeout`) and return its output.
        """
        outputs = Path(tempfile.mkdtemp(prefix="run-", dir=self._directory))
        stdout, stderr, stdin = outputs / "stdout", outputs / "stderr", outputs / "stdin"
        stdin.write_text(input or "")
        try:
            process = self.spawn(argv, env, cwd, stdout, stderr, stdin)
            try:
                code = process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise
            return subprocess.CompletedProcess(
                process.args,
                code,
                stdout.read_text(errors="replace"),
                stderr.read_text(errors="replace"),
            )
        finally:
            shutil.rmtree(outputs, ignore_errors=True)

    def stop(self) -> None:
        # A command a failed test left running ends with the session, as it would not if it
        # were a plain subprocess.
        for spawned in self._spawned:
            if spawned.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(spawned.pid, signal.SIGKILL)
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self._directory, ignore_errors=True)


class Process(Protocol):
    """
    A started command: a `subprocess.Popen`, or a `ForkedProcess`.
    """

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def send_signal(self, signum: int) -> None: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...


class ForkedProcess:
    """
    A command forked by the zygote, with the part of `subprocess.Popen` the tests use.
    """

    def __init__(self, args: list[str], connection: socket.socket) -> None:
        self.args = args
        self.returncode: int | None = None
        self._connection = connection
        self._stream = connection.makefile("rb")
        self.pid: int = json.loads(self._stream.readline())["pid"]

    def poll(self) -> int | None:
        """
        The exit status if the command has ended, else None.
        """
        if self.returncode is None and select.select([self._connection], [], [], 0)[0]:
            self._collect()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """
        Wait for the command to end (`subprocess.TimeoutExpired` past `timeout`).
        """
        if self.returncode is None:
            if not select.select([self._connection], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self._collect()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """
        Signal the command, if it still runs.
        """
        if self.poll() is None:
            # It may have ended meanwhile: its status is on the way.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __del__(self) -> None:
        # A test that failed before waiting: no unclosed-socket warning on top of its error.
        self._stream.close()
        self._connection.close()

    def _collect(self) -> None:
        line = self._stream.readline()
        # An empty line: the watcher died without an answer (the zygote was killed).
        self.returncode = json.loads(line)["code"] if line else -signal.SIGKILL
        self._stream.close()
        self._connection.close()


_zygotes: list[_Zygote] = []  # this session's, started on first use


def _the_zygote() -> _Zygote:
    if not _zygotes or _zygotes[-1].process.poll() is not None:
        _zygotes.append(_Zygote())
        atexit.register(_zygotes[-1].stop)
    return _zygotes[-1]


@dataclass
class Cli:
    """
    Runs `cartback …` with the test's environment (forked from the zygote, or executed).
    """

    env: dict[str, str]
    cwd: Path
    fork: bool = not EXEC_EACH

    def run(
        self, *args: str, timeout: float = 120.0, input: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """
        Run a command to completion (`input` on its standard input) and return its output.
        """
        if self.fork:
            return _the_zygote().run(list(args), {**self.env, **env}, self.cwd, timeout, input)
        return subprocess.run(
            [sys.executable, "-m", "cartback", *args],
            env={**self.env, **env},
            cwd=self.cwd,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str, log: Path, **env: str) -> Process:
        """
        Start a long-running command with its output in `log`.
        """
        if self.fork:
            return _the_zygote().spawn(list(args), {**self.env, **env}, self.cwd, log, None)
        with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                [sys.executable, "-m", "cartback", *args],
                env={**self.env, **env},
                cwd=self.cwd,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )

    def create_store(self, *options: str) -> dict[str, str]:
        """
        `cartback store create … --json`, parsed.
        """
        result = self.run(
            "store",
            "create",
            "--name",
            "E2E Shop",
            "--platform",
            "custom",
            "--domain",
            "shop.example.com",
            "--json",
            *options,
        )
        if result.returncode != 0:
            raise AssertionError(result.stderr)
        created: dict[str, str] = json.loads(result.stdout)
        return created


def free_port() -> int:
    """
    A TCP port nobody listens on right now.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """
    A running `cartback serve`.
    """

    process: Process
    base_url: str
    log: Path
    keys: dict[str, str] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        """
        An HTTP client with the store's server key.
        """
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.keys['secret_key']}"},
            timeout=10,
        )

    def stop(self) -> int:
        """
        SIGTERM, then wait; returns the exit code.
        """
        code = self.process.poll()
        if code is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                code = self.process.wait()
        return code

    def log_events(self) -> list[dict[str, Any]]:
        """
        The JSON log lines the server wrote.
        """
        events = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                events.append(json.loads(line))
        return events


def start_server(cli: Cli, tmp_path: Path, *args: str, **env: str) -> Server:
    """
    Start `cartback serve` on a free port and wait until it answers /healthz.
    """
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    process = cli.start("serve", "--port", str(port), *args, log=log, **env)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return Server(process=process, base_url=base_url, log=log)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"serve did not start:\n{log.read_text()}")
