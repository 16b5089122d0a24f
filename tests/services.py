"""What the tests that start their own services share: a free loopback port and stopping a
started process by its own PID (or its process group), every wait bounded."""

from __future__ import annotations

import os
import signal
import socket
import subprocess


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, *, group: bool = False, timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds: this process's child by its PID, or
    with ``group`` the process group it leads (a server and its workers; start it with
    ``start_new_session=True``)."""
    if proc.poll() is not None:
        return

    def send(sig: signal.Signals) -> None:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)

    send(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait(timeout=timeout)
