"""gunicorn settings for one roomtimer process (the Docker image's command).

    gunicorn -c python:roomtimer.gunicorn_conf roomtimer.worker:app

One worker per gunicorn, on purpose: an Engine.IO session lives in one process, and
Nginx's sticky upstream needs one address per process. Scale out with more of these
(more containers, or more ports), never with `workers`. gunicorn restarts the worker if
it dies, and on SIGTERM gives it `graceful_timeout` to close its sockets and finish
in-flight requests.
"""

import importlib.util
import os

bind = [f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or '3000'}"]
workers = 1
# uvloop where it installs (not on Windows: see pyproject's marker), asyncio's loop elsewhere.
worker_class = (
    "aiohttp.GunicornUVLoopWebWorker"
    if importlib.util.find_spec("uvloop")
    else "aiohttp.GunicornWebWorker"
)
# Not read: roomtimer.worker:app hands the worker a runner with HTTP_KEEPALIVE_TIMEOUT and
# the other HTTP timeouts (see README's Configuration), as `roomtimer serve` uses.
# The worker's event loop must answer gunicorn's heartbeat within this many seconds.
timeout = 30
# Longer than the 10 s the runner waits for in-flight requests once viewers are told to
# reconnect.
graceful_timeout = 12
# roomtimer logs every request itself (with a request id, without tokens).
accesslog = None
proc_name = "roomtimer"
# gunicorn's own lines as flat JSON in production, like the app's.
logger_class = "roomtimer.gunicorn_logging.ProductionLogger"
# gunicorn 25.1+ opens a control socket by default: one path shared by every gunicorn of a
# user on a host, and able to add workers, which breaks the one-process-per-address rule.
control_socket_disable = True
