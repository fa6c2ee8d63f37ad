"""A running ``llama-server`` for a serving export, with the safeguards that keep its answers right: no adapter
applied at load, the RAM prompt cache off, every scale reset to 0 once healthy, and a full ``lora`` list on every
request (see :mod:`.requests`)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .._local_http import free_port, wait_until_serving
from ..tuner.preference import PreferenceLike
from .llama_cpp import BUILD_HINT, llama_server_binary
from .manifest import ServingManifest
from .requests import llama_cpp_completion, llama_cpp_reset, llama_server_command


def temporary_log() -> Path:
    handle, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
    os.close(handle)
    return Path(name)


class LlamaServer:
    """``with LlamaServer(manifest, "base.gguf") as server: server.complete([0.3, 0.7], "Hello", n_predict=32)``.

    ``args`` are extra llama-server flags (``--parallel 2``, ``--threads 4``, ...); the server's output goes to
    ``log_file`` (a temporary file by default), whose tail is shown if it fails to start.
    """

    def __init__(
        self,
        manifest: ServingManifest,
        model_gguf: str | Path,
        *,
        binary: str | Path | None = None,
        port: int | None = None,
        args: tuple[str, ...] | list[str] = (),
        log_file: str | Path | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        binary = binary or llama_server_binary()
        if binary is None:
            raise FileNotFoundError(f"No llama-server binary found: {BUILD_HINT}, or pass binary=.")
        self.manifest = manifest
        self.port = port or free_port()
        self.command = [*llama_server_command(manifest, str(model_gguf), binary=str(binary), port=self.port), *args]
        self.log_file = Path(log_file) if log_file else temporary_log()
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> LlamaServer:
        with self.log_file.open("w") as sink:
            self.process = subprocess.Popen(self.command, stdout=sink, stderr=subprocess.STDOUT)
        try:
            self._wait_healthy()
            self.post("/lora-adapters", llama_cpp_reset(self.manifest))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def post(self, route: str, body: Any) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{route}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read())

    def complete(self, preference: PreferenceLike, prompt: str | list[int], **params: Any) -> dict[str, Any]:
        """``POST /completion`` at ``preference`` (other fields in ``params``); the server's JSON reply."""
        return self.post("/completion", llama_cpp_completion(self.manifest, preference, prompt, **params))

    def _log_tail(self) -> str:
        return self.log_file.read_text(errors="replace")[-3000:]

    def _wait_healthy(self) -> None:
        try:
            wait_until_serving(f"http://127.0.0.1:{self.port}/health", self.process, self.startup_timeout)
        except RuntimeError:
            raise RuntimeError(f"llama-server exited with {self.process.returncode}:\n{self._log_tail()}") from None
        except TimeoutError:
            raise TimeoutError(
                f"llama-server was not healthy after {self.startup_timeout:.0f} s:\n{self._log_tail()}"
            ) from None
