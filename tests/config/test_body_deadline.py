"""A body shorter than its Content-Length is answered, under gunicorn, not waited for."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gunicorn_url():
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", "REQUEST_BODY_SECONDS": "1",
           "WEB_CONCURRENCY": "1", "GUNICORN_BIND": f"127.0.0.1:{port}"}
    server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application",
                               "-c", "config/gunicorn.py", "--log-level", "warning"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(server.stderr.read().decode())
            time.sleep(0.3)
    yield port
    server.terminate()
    server.wait(timeout=30)


def _exchange(port: int, request: bytes) -> bytes:
    """Send `request` and read the answer until the server closes (at most 20 s)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as client:
        client.sendall(request)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        return answer


def _post(body: bytes, length: int) -> bytes:
    return (f"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode() + body


def test_a_body_shorter_than_announced_is_answered_400_naming_content_length(gunicorn_url):
    answer = _exchange(gunicorn_url, _post(b'{"event_id": "short"', 500))  # and then nothing: the client waits
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    assert b'"field": "Content-Length"' in body and b"did not reach the 500 bytes" in body


def test_a_whole_body_still_reaches_the_service(gunicorn_url):
    body = b'{"event_id": "whole"}'
    answer = _exchange(gunicorn_url, _post(body, len(body)))
    assert answer.startswith(b"HTTP/1.1 401"), answer  # no API key: the service itself answered
