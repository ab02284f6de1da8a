"""The sandbox in a subprocess, with the same interface as `SandboxServer`."""

import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests

from extract.sandbox.api import DEFAULT_NO_SCOPE_TOKEN, DEFAULT_TOKEN
from extract.sandbox.data import DEFAULT_SEED, SandboxScale
from extract.sandbox.faults import Fault

URL_PREFIX = "SANDBOX_URL="
TOKEN_ENV = "SANDBOX_TOKEN"  # how the token reaches the child: argv would show it in `ps`
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class SandboxProcess:
    """`python -m extract.sandbox` in a child process, steered over its control endpoints."""

    def __init__(
        self,
        scale: SandboxScale | None = None,
        token: str = DEFAULT_TOKEN,
        seed: int = DEFAULT_SEED,
        no_scope_tokens: Iterable[str] = (DEFAULT_NO_SCOPE_TOKEN,),
        port: int = 0,
        startup_timeout: float = 30.0,
        latency_ms: float = 0.0,
        rate: float | None = None,
    ) -> None:
        self.scale = scale or SandboxScale()
        self.token = token
        self.seed = seed
        self.no_scope_tokens = tuple(no_scope_tokens)
        self._port = port
        self.latency_ms = latency_ms
        self.rate = rate
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[str] | None = None
        self._base_url: str | None = None
        self._http = requests.Session()
        self._http.trust_env = False  # never send loopback control calls through a proxy

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the sandbox is not started")
        return self._base_url

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "extract.sandbox",
            "--port",
            str(self._port),
            "--seed",
            str(self.seed),
            "--documents",
            str(self.scale.documents),
            "--value-drivers",
            str(self.scale.value_drivers),
            "--kpis",
            str(self.scale.kpis),
        ]
        if self.latency_ms:
            command += ["--latency-ms", f"{self.latency_ms:g}"]
        if self.rate:
            command += ["--rate", f"{self.rate:g}"]
        for token in self.no_scope_tokens or ("",):  # "" tells the child: none at all
            command += ["--no-scope-token", token]
        return command

    def start(self) -> str:
        """Start the child and wait for its `SANDBOX_URL=` line; returns the base URL."""
        if self._process is not None:
            return self.base_url
        env = {
            **os.environ,
            TOKEN_ENV: self.token,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(_PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p
            ),
        }
        self._process = subprocess.Popen(
            self.command(),
            cwd=_PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        try:
            self._base_url = self._read_url()
        except BaseException:
            self.stop()
            raise
        return self._base_url

    def _read_url(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        deadline = time.monotonic() + self._startup_timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not selector.select(timeout=left):
                    continue
                line = self._process.stdout.readline()
                if not line:
                    code = self._process.wait()
                    raise RuntimeError(f"the sandbox process exited with status {code}")
                if line.startswith(URL_PREFIX):
                    return line[len(URL_PREFIX) :].strip()
        raise TimeoutError(f"the sandbox did not start within {self._startup_timeout:.0f} s")

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None
        self._base_url = None

    def __enter__(self) -> "SandboxProcess":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _control(self, method: str, action: str, payload: dict[str, Any] | None = None) -> Any:
        root = self.base_url.rsplit("/", 1)[0]
        response = self._http.request(method, f"{root}/_sandbox/{action}", json=payload, timeout=60)
        response.raise_for_status()
        return response.json()

    def set_faults(self, *faults: Fault | dict[str, Any]) -> None:
        """Replace the pending faults; no argument clears them."""
        payload = [f.to_dict() if isinstance(f, Fault) else f for f in faults]
        self._control("POST", "faults", {"faults": payload})

    def pending_faults(self) -> list[dict[str, Any]]:
        return self._control("GET", "faults")["faults"]

    def mutate(self) -> dict[str, Any]:
        """Apply the next mutation round; returns the ids updated, deleted and added."""
        return self._control("POST", "mutate", {"rounds": 1})["rounds"][0]

    def commit_late(
        self, endpoint: str, record_id: str, changes: dict[str, Any], seconds_late: int
    ) -> dict[str, Any]:
        """Edit a record now, stamped `seconds_late` before the newest `updated_at` served."""
        payload = {
            "endpoint": endpoint,
            "id": record_id,
            "changes": changes,
            "seconds_late": seconds_late,
        }
        return self._control("POST", "commit_late", payload)

    def reset(self) -> None:
        self._control("POST", "reset", {})

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "stats")
