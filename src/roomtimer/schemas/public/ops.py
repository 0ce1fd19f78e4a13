"""Operators' answers (health, stats) and the error body of every failed request."""

from typing import Any, NotRequired, TypedDict

from roomtimer.models.stats import SocketStats


class ErrorDetail(TypedDict):
    code: str
    message: str
    details: NotRequired[dict[str, Any]]


class ErrorBody(TypedDict):
    """Every error answer: the contract's code, a message, per-field details if any."""

    error: ErrorDetail
    serverTime: int


class SocketStatsPublic(TypedDict):
    """GET /api/stats/socket."""

    connectedClients: int
    rooms: int
    activeRooms: int
    timers: int
    runningTimers: int
    serverTime: int


class HealthPublic(TypedDict):
    """GET /health and GET /health/ready (`status` ok, degraded or unavailable)."""

    status: str
    checks: dict[str, str]
    serverTime: int


class LivePublic(TypedDict):
    """GET /health/live."""

    status: str
    serverTime: int


def socket_stats(stats: SocketStats) -> SocketStatsPublic:
    """GET /api/stats/socket."""
    return {
        "connectedClients": stats.connected_clients,
        "rooms": stats.storage.rooms,
        "activeRooms": stats.active_rooms,
        "timers": stats.storage.timers,
        "runningTimers": stats.storage.running_timers,
        "serverTime": stats.at,
    }


def health(found: dict[str, str], now: int) -> HealthPublic:
    """GET /health: `ok` when every dependency is."""
    healthy = all(value == "ok" for value in found.values())
    return {"status": "ok" if healthy else "unavailable", "checks": found, "serverTime": now}


def readiness(found: dict[str, str], now: int) -> HealthPublic:
    """GET /health/ready: unavailable without the database, degraded without Redis only."""
    if found["database"] != "ok":
        status = "unavailable"
    else:
        status = "ok" if all(value == "ok" for value in found.values()) else "degraded"
    return {"status": status, "checks": found, "serverTime": now}


def liveness(now: int) -> LivePublic:
    """GET /health/live: the process serves."""
    return {"status": "ok", "serverTime": now}


def error_body(code: str, message: str, now: int, details: dict[str, Any] | None) -> ErrorBody:
    """An error answer's body."""
    error: ErrorDetail = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error, "serverTime": now}
