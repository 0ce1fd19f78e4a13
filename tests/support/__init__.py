"""Helpers for tests against real servers: PostgreSQL, Redis, Nginx, node, the app itself."""

from tests.support.jsclient import JsViewer
from tests.support.server import ServerFailed, ServerProcess
from tests.support.services import NginxProcess, free_port, needs, start_nginx

__all__ = [
    "JsViewer",
    "NginxProcess",
    "ServerProcess",
    "ServerFailed",
    "free_port",
    "needs",
    "start_nginx",
]
