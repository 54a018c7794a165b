"""Serving a WSGI app on loopback in a background thread, over HTTP or HTTPS.

Used by the sandbox CRMs (in-process from tests and the demo, or from `feedbackloop sandbox`).
Werkzeug's threaded server is enough for a sandbox (hundreds of requests per second) and, unlike
waitress, terminates TLS itself, which simple-salesforce requires.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

__all__ = ["RunningServer", "reset_connection"]


class _QuietHandler(WSGIRequestHandler):
    """No per-request log lines (the sandbox counts calls in its stats instead), and no Nagle delay.

    Werkzeug writes headers and body separately; with keep-alive and Nagle's algorithm on, the body
    then waits for the client's delayed ACK (20-40 ms a request, capping one client near 50/s).
    """

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        del code, size


class RunningServer:
    """A WSGI app served on ``host:port`` (0 = any free port) until :meth:`stop`."""

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, ssl_context=ssl_context, request_handler=_QuietHandler
        )
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        self.host = host
        self.port = int(self._server.server_port)
        self.scheme = "https" if ssl_context else "http"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"sandbox:{self.port}", daemon=True
        )

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> RunningServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def reset_connection(environ: dict[str, Any]) -> None:
    """Drop the client's TCP connection without an answer (an injected 'connection reset')."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
