"""The sandbox over loopback HTTP: a quiet keep-alive `ThreadingHTTPServer` in a thread."""

import contextlib
import socket
import sys
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from extract.sandbox.api import (
    BASE_PATH,
    DEFAULT_NO_SCOPE_TOKEN,
    DEFAULT_TOKEN,
    Reply,
    SandboxApi,
)
from extract.sandbox.data import DEFAULT_SEED, SandboxData, SandboxScale
from extract.sandbox.faults import Fault
from extract.sandbox.store import SandboxStore

HOST = "127.0.0.1"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # with Content-Length on every reply, clients keep-alive
    server_version = "EcosystemsSandbox/1.0"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go in two writes; no delayed-ACK stall
    timeout = 120  # an idle keep-alive connection frees its thread eventually
    server: "_HttpServer"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no per-request lines (and so never a token or query in a log)."""

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.send_error(400, "bad Content-Length")
            return
        body = self.rfile.read(length) if length else b""
        reply = self.server.api.handle(
            self.command, self.path, self.headers, body, self.client_address[0]
        )
        if reply.delay:
            self.server.stopping.wait(reply.delay)
        if reply.drop:
            self.close_connection = True
            return
        try:
            self._write(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up, e.g. after its timeout

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, api: SandboxApi) -> None:
        self.api = api
        self.stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that hang up; other errors still print a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """End kept-alive connections so a stopped sandbox really answers nothing."""
        with self._open_lock:
            for request in list(self._open):
                with contextlib.suppress(OSError):
                    request.shutdown(socket.SHUT_RDWR)


class SandboxServer:
    """The sandbox Ecosystems API in a background thread of this process."""

    def __init__(
        self,
        scale: SandboxScale | None = None,
        token: str = DEFAULT_TOKEN,
        seed: int = DEFAULT_SEED,
        no_scope_tokens: Iterable[str] = (DEFAULT_NO_SCOPE_TOKEN,),
        port: int = 0,
        latency_ms: float = 0.0,
        rate: float | None = None,
    ) -> None:
        """`latency_ms` delays every API reply (a sleep: no CPU); past `rate` requests a
        second the API answers 429 with Retry-After."""
        self.scale = scale or SandboxScale()
        self.token = token
        self.seed = seed
        self.store = SandboxStore(SandboxData(self.scale, seed))
        self.api = SandboxApi(
            self.store, token, no_scope_tokens, latency=latency_ms / 1000, rate=rate
        )
        self._port = port
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://{HOST}:{self._httpd.server_address[1]}{BASE_PATH}"

    def start(self) -> str:
        """Listen on loopback (port 0 = any free port); returns the base URL."""
        if self._httpd is None:
            self._httpd = _HttpServer(self._port, self.api)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="ecosystems-sandbox",
                daemon=True,
            )
            self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.stopping.set()  # wakes handlers sleeping in a "hang" fault
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> "SandboxServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_faults(self, *faults: Fault | dict[str, Any]) -> None:
        """Replace the pending faults; no argument clears them."""
        self.api.faults.set([f if isinstance(f, Fault) else Fault.from_dict(f) for f in faults])

    def pending_faults(self) -> list[dict[str, Any]]:
        return self.api.faults.pending()

    def mutate(self) -> dict[str, Any]:
        """Apply the next mutation round; returns the ids updated, deleted and added."""
        return self.store.mutate()

    def commit_late(
        self, endpoint: str, record_id: str, changes: dict[str, Any], seconds_late: int
    ) -> dict[str, Any]:
        """Edit a record now, stamped `seconds_late` before the newest `updated_at` served."""
        return self.store.commit_late(endpoint, record_id, changes, seconds_late)

    def reset(self) -> None:
        self.api.reset()

    def stats(self) -> dict[str, Any]:
        return self.api.stats()
