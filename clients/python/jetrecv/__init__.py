"""jetrecv: Python client of the jetrecv receive server's API (docs/API.md, "Python client")."""

from .client import (
    DEFAULT_API_PORT,
    APIInterface,
    JetRecv,
    JetRecvApiError,
    JetRecvConnectionError,
    RecvInterface,
    RequestRef,
    ServerInterface,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_API_PORT",
    "APIInterface",
    "JetRecv",
    "JetRecvApiError",
    "JetRecvConnectionError",
    "RecvInterface",
    "RequestRef",
    "ServerInterface",
    "__version__",
]
