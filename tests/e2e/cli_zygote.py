"""
A process that imports `cartback` once and forks one child per command.

Each child is a real process that runs the real entry point (`cartback.cli.main`) with the
test's arguments, environment, working directory and its own standard streams, and exits with
the command's status: only the interpreter start and the imports (about 1.5 s of CPU a command)
are shared. The end-to-end suite runs hundreds of commands; paying that start for each one was
most of its time.

Protocol, on a Unix socket, a connection per command: the client sends one JSON line
`{"argv", "env", "cwd", "stdout", "stderr", "stdin"}` (`stderr` null: into `stdout`;
`stdin` null: the null device); the zygote
answers `{"pid"}` at once (so the client can signal the command), then `{"code"}` when it
ends (negative: the signal that ended it).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from typing import Any

# What every command needs, imported before any fork.
import cartback.api.app
import cartback.bootstrap
import cartback.cli


def _exit_code(code: object) -> int:
    # As the interpreter turns `sys.exit(code)` into a status.
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def _run_child(request: dict[str, Any]) -> None:
    """
    In the forked child: become the command, then exit the way the interpreter would.
    """
    os.setsid()  # its own process group, as a fresh subprocess would be killed alone
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    _redirect(0, request.get("stdin") or os.devnull, os.O_RDONLY)
    writing = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    _redirect(1, request["stdout"], writing)
    if request["stderr"] is None:
        os.dup2(1, 2)  # one log for both, as `stderr=STDOUT`
    else:
        _redirect(2, request["stderr"], writing)
    sys.argv = ["cartback", *request["argv"]]
    try:
        cartback.cli.main()
        code = 0
    except SystemExit as exit_:
        code = _exit_code(exit_.code)
    # A normal interpreter exit: atexit handlers run and non-daemon threads are joined.
    sys.exit(code)


def _redirect(descriptor: int, path: str, flags: int) -> None:
    opened = os.open(path, flags, 0o600)
    os.dup2(opened, descriptor)
    os.close(opened)


def _watch(connection: socket.socket) -> None:
    """
    In a watcher process (one per command, so commands may overlap): fork the command, tell
    the client its pid, wait for it and tell the client its exit status.
    """
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the zygote's SIG_IGN would hide the status
    stream = connection.makefile("rwb")
    line = stream.readline()
    if not line:
        os._exit(0)
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        _run_child(request)
    _answer(stream, {"pid": pid})
    _, status = os.waitpid(pid, 0)
    _answer(stream, {"code": os.waitstatus_to_exitcode(status)})
    os._exit(0)


def _answer(stream: Any, message: dict[str, int]) -> None:
    try:
        stream.write(json.dumps(message).encode() + b"\n")
        stream.flush()
    except OSError:
        pass  # the client gave up on this command (a timeout)


def serve(path: str) -> None:
    """
    Listen on `path` and start commands until the zygote is killed.
    """
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # finished watchers are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        connection, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            _watch(connection)
        connection.close()


if __name__ == "__main__":
    serve(sys.argv[1])
