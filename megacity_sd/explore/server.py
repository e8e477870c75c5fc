"""The local HTTP server: static files from the package, the JSON API, loopback only, security headers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..errors import UserInputError
from .explorer import Explorer
from .requests import MAX_BODY, MAX_UPLOAD_BODY, RequestError

__all__ = [
    "WEB_DIR",
    "ExploreServer",
    "make_server",
]


WEB_DIR = Path(__file__).resolve().parent.parent / "web"


_STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/index.html": ("index.html", "text/html; charset=utf-8"),
           "/app.js": ("app.js", "text/javascript; charset=utf-8"), "/app.css": ("app.css", "text/css; charset=utf-8")}


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

IDLE_TIMEOUT = 30.0


_SECURITY = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' "
             "'unsafe-inline'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
             "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


_POST = {"/api/preset": ("preset", "json"), "/api/upload": ("upload", "json"), "/api/run": ("run", "json"),
         "/api/export/yaml": ("export_yaml", "application/x-yaml; charset=utf-8"),
         "/api/export/csv": ("export_csv", "text/csv; charset=utf-8"),
         "/api/export/report": ("export_report", "text/html; charset=utf-8")}


class _Handler(BaseHTTPRequestHandler):
    server_version = "megacity-sd-explore"
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT  # seconds a connection may stay silent (a half-sent request, an idle keep-alive)
    server: ExploreServer

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, ctype: str, extra: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in {**_SECURITY, **(extra or {})}.items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj, allow_nan=False, separators=(",", ":")).encode("utf-8"),
                   "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": " ".join(str(message).split())})

    def _host_ok(self) -> bool:
        if not self.server.loopback_only:
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        name = host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0] if ":" in host else host
        return name in _LOOPBACK

    def do_GET(self):  # noqa: N802 - the base class's name
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if not self._host_ok():
            return self._error(HTTPStatus.FORBIDDEN, "this server answers requests to 127.0.0.1 or localhost only")
        if path in _STATIC:
            name, ctype = _STATIC[path]
            return self._send(HTTPStatus.OK, (WEB_DIR / name).read_bytes(), ctype)
        if path == "/api/meta":
            return self._json(HTTPStatus.OK, self.server.explorer.meta())
        if path == "/favicon.ico":
            return self._send(HTTPStatus.NO_CONTENT, b"", "text/plain")
        if path in _POST:
            return self._send(HTTPStatus.METHOD_NOT_ALLOWED, json.dumps({"error": f"{path}: use POST"}).encode(),
                              "application/json; charset=utf-8", {"Allow": "POST"})
        return self._error(HTTPStatus.NOT_FOUND, f"{path[:100]}: not found; allowed: /, /api/meta and the "
                                                 f"POST endpoints {', '.join(_POST)}")

    do_HEAD = do_GET

    def _refuse_method(self):
        self.close_connection = True
        self._send(HTTPStatus.METHOD_NOT_ALLOWED,
                   json.dumps({"error": f"method {self.command} not allowed; allowed: GET, POST"}).encode(),
                   "application/json; charset=utf-8", {"Allow": "GET, HEAD, POST"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def _read_json(self, limit: int):
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "request: chunked bodies are not accepted; "
                                                           "allowed: a body with Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = True
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "request: Content-Length is required")
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise RequestError(HTTPStatus.BAD_REQUEST, f"request: Content-Length {length[:20]!r} is not a "
                                                       "byte count") from None
        if n > limit:
            self.close_connection = True
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request: body of {n} bytes; allowed: at most "
                                                                     f"{limit} bytes")
        raw = self.rfile.read(n)
        if self.headers.get_content_type() != "application/json":
            raise RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"request: Content-Type "
                                                                  f"{self.headers.get_content_type()!r}; "
                                                                  "allowed: application/json")

        def refuse(word):
            raise ValueError(f"{word} is not allowed; allowed: finite numbers")

        try:
            return json.loads(raw.decode("utf-8"), parse_constant=refuse)
        except UnicodeDecodeError:
            raise RequestError(HTTPStatus.BAD_REQUEST, "request: body is not UTF-8; allowed: JSON text") from None
        except json.JSONDecodeError as err:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"request: malformed JSON at line {err.lineno}, column "
                                                       f"{err.colno}: {err.msg}") from None
        except (ValueError, RecursionError) as err:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"request: malformed JSON: {err}") from None

    def do_POST(self):  # noqa: N802 - the base class's name
        path = self.path.split("?", 1)[0]
        try:
            if not self._host_ok():
                self.close_connection = True
                raise RequestError(HTTPStatus.FORBIDDEN, "this server answers requests to 127.0.0.1 or localhost "
                                                         "only")
            if path not in _POST:
                self.close_connection = True
                raise RequestError(HTTPStatus.NOT_FOUND, f"{path[:100]}: not found; allowed: "
                                                         f"{', '.join(_POST)}")
            method, kind = _POST[path]
            body = self._read_json(MAX_UPLOAD_BODY if path == "/api/upload" else MAX_BODY)
            try:
                result = getattr(self.server.explorer, method)(body)
            except (UserInputError, RequestError):
                raise
            except Exception as err:  # noqa: BLE001 - a failed run is reported on the page, in one line
                first = (str(err).strip().splitlines() or [""])[0][:300]
                raise RequestError(HTTPStatus.INTERNAL_SERVER_ERROR,
                                   f"run failed: {type(err).__name__}{': ' + first if first else ''}") from None
        except RequestError as err:
            return self._error(err.status, str(err))
        except UserInputError as err:
            return self._error(HTTPStatus.BAD_REQUEST, str(err))
        if kind == "json":
            return self._json(HTTPStatus.OK, result)
        filename, text = result
        self._send(HTTPStatus.OK, text.encode("utf-8"), kind,
                   {"Content-Disposition": f'attachment; filename="{filename}"'})


class ExploreServer(ThreadingHTTPServer):
    """The explorer's HTTP server: one thread per connection, a deep listen queue, an :class:`Explorer`."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, explorer: Explorer, *, verbose: bool = False):
        self.explorer = explorer
        self.verbose = verbose
        self.loopback_only = address[0] in _LOOPBACK or address[0].startswith("127.")
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address):
        """A dropped or timed-out connection ends that connection only, silently; other faults in one line."""
        import sys

        err = sys.exc_info()[1]
        if not isinstance(err, (ConnectionError, TimeoutError)):
            sys.stderr.write(f"megacity-sd explore: request from {client_address[0]} failed: "
                             f"{type(err).__name__}: {str(err)[:200]}\n")

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
        return f"http://{f'[{host}]' if ':' in host and not host.startswith('[') else host}:{port}/"


def make_server(host: str = "127.0.0.1", port: int = 0, *, explorer: Explorer | None = None, city: str | None = None,
                verbose: bool = False) -> ExploreServer:
    """Create the explorer's server (not yet serving) and warm it up.

    Parameters
    ----------
    host : str
        Address to bind (loopback by default: the page is for this machine).
    port : int
        TCP port; 0 picks a free one (``server.url`` tells which).
    explorer : Explorer, optional
        A ready explorer (default: a new one on the project's model).
    city : str, optional
        A city whose baseline is run before serving, so the first move is fast.
    verbose : bool
        Log every request on stderr.

    Returns
    -------
    ExploreServer
        Call ``serve_forever()`` (and ``shutdown()`` from another thread).
    """
    explorer = explorer or Explorer()
    server = ExploreServer((host, port), explorer, verbose=verbose)  # bind first: a busy port fails at once
    try:
        explorer.meta()
        if city is not None:
            explorer.preset({"city": city})
            with explorer._run_lock:
                explorer._baseline(explorer._city(city))
    except BaseException:
        server.server_close()
        raise
    return server
