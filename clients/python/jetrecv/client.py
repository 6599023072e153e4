"""Python client of the jetrecv API, shaped like JetStream's own Python API.

    from jetrecv import JetRecv
    api = JetRecv().api('localhost', 8886)
    api.server.auth('admin', password)
    api.server.superuser()
    request = api.recv.addAuthorizedClientAsync(sender_key)
    result = api.wait(request)          # {'clientPublicKey': ..., 'added': True}

Every call is one HTTP POST to ``/api/v1/<namespace>.<method>`` with a JSON object of named
parameters (docs/API.md). Answers are returned as the plain dicts/lists the server sent.
Error answers raise :class:`JetRecvApiError` carrying the API's code, message and HTTP
status; a server that cannot be reached raises :class:`JetRecvConnectionError` (a
``JetRecvApiError`` with status 0, as in the TypeScript client). Standard library only;
Python 3.9+.
"""

import http.client
import json
import ssl
import time
import urllib.parse
from typing import Any, Dict, Mapping, Optional, Union

#: Default API port (TCP 8886, as JetStream).
DEFAULT_API_PORT = 8886

#: Client-side codes, the same as the TypeScript client's.
UNREACHABLE = "JETRECV_ERR_API_UNREACHABLE"
BAD_RESPONSE = "JETRECV_ERR_BAD_RESPONSE"
REQUEST_TIMEOUT = "JETRECV_ERR_REQUEST_TIMEOUT"

#: Longest wait APIInterface.wait asks of one getRequestResult call (the server allows 300 s).
_MAX_RESULT_WAIT_MS = 30_000

#: A request in either accepted form: its id, or a Request Structure such as ``{'requestId': 7}``.
RequestRef = Union[int, Mapping[str, Any]]


class JetRecvApiError(Exception):
    """An error answered by the API, or (status 0) a failure to reach it.

    Attributes:
        code: stable code, ``JETRECV_ERR_*`` (docs/API.md, "Errors").
        message: the server's human-readable message.
        status: HTTP status; 0 when the API could not be reached.
        request_id: set for errors about one request (``getRequestResult`` of a failed request).
        parameter: for ``JETRECV_ERR_BAD_PARAMETER``, the name of the offending parameter.
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int,
        request_id: Optional[int] = None,
        parameter: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        self.parameter = parameter

    def __str__(self) -> str:
        return "%s (%s, HTTP %d)" % (self.message, self.code, self.status)

    def to_dict(self) -> Dict[str, Any]:
        """The form ``jetrecv api`` prints: ``{'error': {'code', 'message', 'status', ...}}``."""
        body: Dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.request_id is not None:
            body["requestId"] = self.request_id
        if self.parameter is not None:
            body["parameter"] = self.parameter
        return {"error": body}


class JetRecvConnectionError(JetRecvApiError):
    """The API could not be reached: connection refused, TLS failure, timeout, cut connection.

    ``code`` is ``JETRECV_ERR_API_UNREACHABLE`` and ``status`` 0.
    """

    def __init__(self, message: str) -> None:
        super().__init__(UNREACHABLE, message, 0)


def _request_id(request: RequestRef) -> Any:
    """The id of a request given as an id or as a Request Structure (other values pass on to
    the server, which names the parameter in its error)."""
    if isinstance(request, Mapping) and "requestId" in request:
        return request["requestId"]
    return request


class ServerInterface:
    """``server.*`` methods: log in, elevate, server information and the request model."""

    def __init__(self, api: "APIInterface") -> None:
        self._api = api

    def auth(self, user: str, password: str) -> Dict[str, Any]:
        """Logs in; the session token is kept and sent with every later call.

        Returns ``{'token', 'user', 'superuser', 'idleTimeoutSeconds'}`` (JetStream's ``auth``
        returns None; over HTTP the token is the session). Raises ``JetRecvApiError``
        ``JETRECV_ERR_LOGIN_FAILED`` for a wrong user name or password.
        """
        answer = self._api.call_object("server.auth", {"user": user, "password": password})
        self._api.token = answer["token"]
        return answer

    def authAsync(self, user: str, password: str) -> Dict[str, Any]:
        """Logs in as a request: returns ``{'requestId', 'token'}`` and keeps the token, which
        may only query this request until the login completes."""
        answer = self._api.call_object("server.authAsync", {"user": user, "password": password})
        self._api.token = answer["token"]
        return answer

    def superuser(self) -> Dict[str, Any]:
        """Elevates the session (the user must be named by ``--superuser``):
        ``{'user', 'superuser': True}``."""
        return self._api.call_object("server.superuser")

    def logout(self) -> Dict[str, Any]:
        """Ends the session and forgets the token: ``{'loggedOut': True}``."""
        answer = self._api.call_object("server.logout")
        self._api.token = None
        return answer

    def getServerInfo(self) -> Dict[str, Any]:
        """The Server Information structure (no login needed; more fields for superusers)."""
        return self._api.call_object("server.getServerInfo")

    def updateBandwidthLimits(
        self, incomingRateLimit: Optional[int] = None, incomingRateLimitPerSource: Optional[int] = None
    ) -> Dict[str, Any]:
        """Changes the receive rate limits live (superuser), kbit/s, 0 = none; a limit left
        out keeps its value. Returns ``{'incomingRateLimit', 'incomingRateLimitPerSource'}``."""
        params: Dict[str, Any] = {}
        if incomingRateLimit is not None:
            params["incomingRateLimit"] = incomingRateLimit
        if incomingRateLimitPerSource is not None:
            params["incomingRateLimitPerSource"] = incomingRateLimitPerSource
        return self._api.call_object("server.updateBandwidthLimits", params)

    def getRequestStatus(self, request: RequestRef) -> Dict[str, Any]:
        """Answers at once: ``{'requestId', 'processing', 'status', 'errorMessage', 'errorCode',
        'method', 'requestTime', 'endTime'}``. ``request`` is an id or a Request Structure."""
        return self._api.call_object("server.getRequestStatus", {"requestId": _request_id(request)})

    def getRequestResult(self, request: RequestRef, timeoutMs: Optional[int] = None) -> Dict[str, Any]:
        """Waits until the request finished, at most ``timeoutMs`` (server default 30,000; at
        most 300,000; 0 = do not wait), and returns ``{'requestId', 'status': 'complete',
        'result'}``.

        Raises the request's own error if it failed, and ``JetRecvApiError``
        ``JETRECV_ERR_REQUEST_TIMEOUT`` (408) if it is still running at the timeout.
        """
        params: Dict[str, Any] = {"requestId": _request_id(request)}
        if timeoutMs is not None:
            params["timeoutMs"] = timeoutMs
        wait_ms = timeoutMs if isinstance(timeoutMs, int) and timeoutMs > 0 else 30_000
        return self._api.call_object("server.getRequestResult", params, extra_timeout=wait_ms / 1000.0)


class RecvInterface:
    """``recv.*`` methods: JetStream's RecvInterface plus ``getAuthorizedClientsAsync``.

    Each method queues a request and returns its Request Structure ``{'requestId': N}``; get
    the result with ``api.wait(request)`` or ``api.server.getRequestResult(request)``. Every
    parameter may be given plain or in JetStream's dict form, e.g.
    ``addAuthorizedClientAsync('x8rB...=')`` or
    ``addAuthorizedClientAsync({'clientPublicKey': 'x8rB...='})``.
    """

    def __init__(self, api: "APIInterface") -> None:
        self._api = api

    def addAuthorizedClientAsync(self, clientPublicKey: Union[str, Mapping[str, str]]) -> Dict[str, Any]:
        """Lists a sender's public key (superuser). Result ``{'clientPublicKey', 'added'}``;
        ``added`` is False if the key was listed already."""
        return self._api.call_object("recv.addAuthorizedClientAsync", {"clientPublicKey": clientPublicKey})

    def removeAuthorizedClientAsync(self, clientPublicKey: Union[str, Mapping[str, str]]) -> Dict[str, Any]:
        """Unlists a sender's public key (superuser). Result ``{'clientPublicKey', 'removed'}``."""
        return self._api.call_object("recv.removeAuthorizedClientAsync", {"clientPublicKey": clientPublicKey})

    def allowOnlyAuthorizedClientsAsync(
        self, onlyAuthorizedClientsAllowed: Union[bool, Mapping[str, bool]]
    ) -> Dict[str, Any]:
        """Turns allow-only on or off (superuser). Result
        ``{'onlyAuthorizedClientsAllowed', 'changed'}``."""
        return self._api.call_object(
            "recv.allowOnlyAuthorizedClientsAsync", {"onlyAuthorizedClientsAllowed": onlyAuthorizedClientsAllowed}
        )

    def getAuthorizedClientsAsync(self) -> Dict[str, Any]:
        """jetrecv extra (superuser). Result ``{'onlyAuthorizedClientsAllowed', 'clientPublicKeys'}``."""
        return self._api.call_object("recv.getAuthorizedClientsAsync")

    def getSourcesAsync(self) -> Dict[str, Any]:
        """Result: a list of Source Structures (senders seen by this receiver)."""
        return self._api.call_object("recv.getSourcesAsync")

    def getTransfersAsync(self) -> Dict[str, Any]:
        """Result: a list of Receive Transfer Structures."""
        return self._api.call_object("recv.getTransfersAsync")


class APIInterface:
    """Client of one jetrecv API server; make it with ``JetRecv().api(host, port)``.

    Attributes:
        server: the ``server.*`` methods (:class:`ServerInterface`).
        recv: the ``recv.*`` methods (:class:`RecvInterface`).
        token: the session token sent as ``Authorization: Bearer``; set by ``server.auth``.

    Args:
        host: name or address of the server.
        port: TCP API port (``--api-port``, default 8886).
        tls: speak HTTPS.
        ca_file: PEM file of the CA certificate(s) to trust; default the system's trust store.
        verify: verify the server certificate and host name (default True).
        token: a session token from an earlier ``server.auth``.
        timeout: seconds one call may take (``getRequestResult`` adds its wait).
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = DEFAULT_API_PORT,
        *,
        tls: bool = False,
        ca_file: Optional[str] = None,
        verify: bool = True,
        token: Optional[str] = None,
        timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.timeout = timeout
        self._ssl_context: Optional[ssl.SSLContext] = None
        if tls:
            context = ssl.create_default_context(cafile=ca_file)
            if not verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._ssl_context = context
        self.server = ServerInterface(self)
        self.recv = RecvInterface(self)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://localhost:8886``."""
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "%s://%s:%d" % ("https" if self._ssl_context is not None else "http", host, self.port)

    def connect(self) -> Dict[str, Any]:
        """Checks that the server answers; returns its Server Information. HTTP needs no
        connection to be kept: this exists so JetStream scripts (``api.connect()``,
        ``with api:``) run unchanged."""
        return self.server.getServerInfo()

    def disconnect(self) -> None:
        """Logs out if logged in (errors of the logout are ignored: the session is gone
        either way for this client)."""
        if self.token is not None:
            try:
                self.server.logout()
            except JetRecvApiError:
                self.token = None

    def __enter__(self) -> "APIInterface":
        self.connect()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.disconnect()

    def wait(self, request: RequestRef, timeout: float = 300.0) -> Any:
        """Waits for an ``*Async`` request and returns its result (a dict or list).

        Calls ``getRequestResult`` until the request finishes or ``timeout`` seconds passed.
        Raises the request's error if it failed, ``JETRECV_ERR_REQUEST_TIMEOUT`` if it is still
        running at the end.
        """
        deadline = time.monotonic() + timeout
        while True:
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            try:
                return self.server.getRequestResult(request, min(left_ms, _MAX_RESULT_WAIT_MS))["result"]
            except JetRecvApiError as err:
                if err.code != REQUEST_TIMEOUT or time.monotonic() >= deadline:
                    raise

    def call_object(
        self, method: str, params: Optional[Mapping[str, Any]] = None, extra_timeout: float = 0.0
    ) -> Dict[str, Any]:
        """:meth:`call` for the methods whose answer is a JSON object (all of today's);
        raises ``JETRECV_ERR_BAD_RESPONSE`` for any other answer."""
        answer = self.call(method, params, extra_timeout)
        if not isinstance(answer, dict):
            raise JetRecvApiError(
                BAD_RESPONSE,
                "%s: the server at %s answered %s instead of a JSON object" % (method, self.url, type(answer).__name__),
                200,
            )
        return answer

    def call(self, method: str, params: Optional[Mapping[str, Any]] = None, extra_timeout: float = 0.0) -> Any:
        """Calls any method by full name (``'recv.getSourcesAsync'``) with named parameters and
        returns the parsed JSON answer. ``extra_timeout`` (seconds) is added to the socket
        timeout for calls that wait on the server."""
        body = json.dumps(dict(params or {})).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token is not None:
            headers["Authorization"] = "Bearer " + self.token
        timeout = self.timeout + extra_timeout
        if self._ssl_context is not None:
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=self._ssl_context
            )
        else:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            connection.request("POST", "/api/v1/" + urllib.parse.quote(method, safe="."), body=body, headers=headers)
            response = connection.getresponse()
            status = response.status
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as err:
            raise JetRecvConnectionError(
                "%s: cannot reach the jetrecv API at %s: %s" % (method, self.url, str(err) or type(err).__name__)
            ) from err
        finally:
            connection.close()
        return _parse_answer(method, self.url, status, text)


def _parse_answer(method: str, url: str, status: int, text: str) -> Any:
    """The JSON of a 2xx answer, or the API error of any other answer, raised."""
    try:
        parsed = None if text == "" else json.loads(text)
    except ValueError:
        raise JetRecvApiError(
            BAD_RESPONSE,
            "%s: the server at %s answered HTTP %d with a body that is not JSON" % (method, url, status),
            status,
        ) from None
    if 200 <= status < 300:
        return parsed
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        raise JetRecvApiError(
            BAD_RESPONSE,
            "%s: the server at %s answered HTTP %d without an error object" % (method, url, status),
            status,
        )
    request_id = error.get("requestId")
    parameter = error.get("parameter")
    raise JetRecvApiError(
        error["code"],
        str(error.get("message", "")),
        status,
        request_id=request_id if isinstance(request_id, int) else None,
        parameter=parameter if isinstance(parameter, str) else None,
    )


class JetRecv:
    """Entry point, as JetStream's ``JetStream()``: ``JetRecv().api('localhost', 8886)``."""

    def api(self, host: str = "localhost", port: int = DEFAULT_API_PORT, **options: Any) -> APIInterface:
        """A client of the API at ``host:port`` (the daemon listens on 127.0.0.1 unless started
        with ``--api-allow-remote-control``; ``--api-port``, default 8886).

        ``options`` are :class:`APIInterface`'s keyword arguments: ``tls`` (a daemon with
        ``--api-tls-cert`` serves HTTPS only), ``ca_file`` (e.g. that daemon's self-signed
        certificate), ``verify``, ``token``, ``timeout``.
        """
        return APIInterface(host, port, **options)
