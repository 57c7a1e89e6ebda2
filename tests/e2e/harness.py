"""
The end-to-end harness: the real `cartback` command line as a subprocess, and a running
`cartback serve`.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

STARTUP_TIMEOUT = 30.0


@dataclass
class Cli:
    """
    Runs `python -m cartback …` with the test's environment.
    """

    env: dict[str, str]
    cwd: Path

    def run(
        self, *args: str, timeout: float = 120.0, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """
        Run a command to completion and return its output.
        """
        return subprocess.run(
            [sys.executable, "-m", "cartback", *args],
            env={**self.env, **env},
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
        """
        Start a long-running command with its output in `log`.
        """
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

    process: subprocess.Popen[bytes]
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
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)

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
