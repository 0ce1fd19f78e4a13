"""Prometheus metrics, one registry per app (so several apps can share a process)."""

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    ProcessCollector,
)

from roomtimer.build import build_labels


class Metrics:
    """Every metric roomtimer exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # Memory, CPU, open files and collector pauses of this process, next to its own figures.
        ProcessCollector(registry=r)
        GCCollector(registry=r)
        Info("roomtimer_build", "The running roomtimer.", registry=r).info(build_labels())
        self.http_requests = Counter(
            "roomtimer_http_requests_total",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "roomtimer_http_request_duration_seconds",
            "HTTP request latency by method and route.",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.connected_sockets = Gauge(
            "roomtimer_socket_connected_clients",
            "Socket.IO clients connected to this worker.",
            registry=r,
        )
        self.rooms = Gauge("roomtimer_rooms", "Rooms in storage.", registry=r)
        self.running_timers = Gauge("roomtimer_timers_running", "Running timers.", registry=r)
        self.broadcasts = Counter(
            "roomtimer_broadcasts_total",
            "Events broadcast to rooms, by event.",
            ["event"],
            registry=r,
        )
        self.finish_lateness = Histogram(
            "roomtimer_timer_finish_lateness_seconds",
            "How long after its deadline a timer was finished and announced.",
            buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30),
            registry=r,
        )
        self.slow_consumer_drops = Counter(
            "roomtimer_slow_consumer_drops_total",
            "Sockets dropped because they stopped reading and their buffer passed the cap.",
            registry=r,
        )
        self.fast_path = Gauge(
            "roomtimer_fast_path",
            "1 when the fast fan-out path serves Socket.IO, 0 on python-socketio's stock path.",
            registry=r,
        )
        self.rate_limited = Counter(
            "roomtimer_rate_limited_total", "Requests refused by the rate limiter.", registry=r
        )
        self.http_closed = Counter(
            "roomtimer_http_connections_closed_total",
            "HTTP connections closed unanswered, by reason (head_timeout, body_timeout,"
            " too_many_pending).",
            ["reason"],
            registry=r,
        )
        self.webhook_attempts = Counter(
            "roomtimer_webhook_attempts_total",
            "Webhook delivery attempts by outcome (delivered, retry, failed).",
            ["outcome"],
            registry=r,
        )
