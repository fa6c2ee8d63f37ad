"""Waiting for a local server (llama-server, panacea ui): answers, dies, or never answers."""

import subprocess
import sys
import time

import pytest

from peft_panacea._local_http import free_port, wait_until_serving


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_returns_once_the_server_answers(tmp_path):
    port = free_port()
    server = start("-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path))
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/", server, timeout=120)
        assert server.poll() is None
    finally:
        server.kill()
        server.wait()


def test_a_server_that_dies_is_reported_at_once():
    dead = start("-c", "import sys; sys.exit(3)")
    start_time = time.monotonic()
    with pytest.raises(RuntimeError, match="exited with 3"):
        wait_until_serving(f"http://127.0.0.1:{free_port()}/", dead, timeout=600)
    assert time.monotonic() - start_time < 60  # not at the 600 s deadline


def test_a_server_that_never_answers_times_out():
    silent = start("-c", "import time; time.sleep(60)")
    try:
        with pytest.raises(TimeoutError, match="did not answer within 1 s"):
            wait_until_serving(f"http://127.0.0.1:{free_port()}/", silent, timeout=1)
    finally:
        silent.kill()
        silent.wait()
