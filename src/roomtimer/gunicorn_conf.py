"""gunicorn settings for one roomtimer process (the Docker image's command).

    gunicorn -c python:roomtimer.gunicorn_conf roomtimer.worker:app

One worker per gunicorn, on purpose: an Engine.IO session lives in one process, and
Nginx's sticky upstream needs one address per process. Scale out with more of these
(more containers, or more ports), never with `workers`. gunicorn restarts the worker if
it dies, and on SIGTERM gives it `graceful_timeout` to close its sockets and finish
in-flight requests.
"""

import os

bind = [f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or '3000'}"]
workers = 1
worker_class = "aiohttp.GunicornUVLoopWebWorker"
# Longer than Nginx's upstream keepalive use, as `roomtimer serve` (aiohttp's 75 s).
keepalive = 75
# The worker's event loop must answer gunicorn's heartbeat within this many seconds.
timeout = 30
# aiohttp waits 95% of this for in-flight requests once viewers are told to reconnect.
graceful_timeout = 12
# roomtimer logs every request itself (with a request id, without tokens).
accesslog = None
proc_name = "roomtimer"
