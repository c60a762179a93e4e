"""``crmbot.watch``: the health watcher ``crmbot up`` runs beside the servers."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crmbot import watch


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_server_that_never_answers_stops_the_watch(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/health"
    code = watch.main(["--check", f"web={server}/ok", "--check", f"rasa={url}",
                       "--check", f"actions={server}/down", "--timeout", "0.5"])
    out = capsys.readouterr()
    assert code == 1
    assert "web is healthy" in out.out
    assert "platform ready" not in out.out
    assert "not healthy after" in out.err
    assert "rasa" in out.err and "actions" in out.err and "web" not in out.err


def test_ready_when_every_server_answers(server: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "crmbot.watch", "--check", f"web={server}/ok",
         "--ready-message", "all up"],
        stdout=subprocess.PIPE, text=True,
    )
    guard = threading.Timer(30, process.kill)  # a watch that never prints fails, not hangs
    guard.start()
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(2)]
    finally:
        guard.cancel()
        process.kill()
        process.wait(timeout=10)
    assert lines == [f"web is healthy ({server}/ok)", "all up"]


@pytest.mark.parametrize("check", ["web", "web="])
def test_a_malformed_check_is_a_usage_error(
    check: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        watch.main(["--check", check])
    assert exited.value.code == 2
    assert "--check takes NAME=URL" in capsys.readouterr().err


def _watch_lines(server: str, after: str, count: int) -> list[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "crmbot.watch", "--check", f"web={server}/ok",
         "--ready-message", "all up", "--after-ready", after],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    guard = threading.Timer(30, process.kill)
    guard.start()
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(count)]
        assert process.poll() is None  # still watching
    finally:
        guard.cancel()
        process.kill()
        process.wait(timeout=10)
    return lines


def test_the_after_ready_command_runs_once_after_the_ready_message(server: str) -> None:
    command = f"{sys.executable} -c \"print('demo played')\""
    assert _watch_lines(server, command, 3) == [f"web is healthy ({server}/ok)", "all up",
                                                "demo played"]


def test_a_failing_after_ready_command_is_reported_and_the_watch_goes_on(server: str) -> None:
    command = f"{sys.executable} -c \"raise SystemExit(3)\""
    lines = _watch_lines(server, command, 3)
    assert lines[1] == "all up"
    assert "failed (exit code 3); the platform keeps running" in lines[2]
