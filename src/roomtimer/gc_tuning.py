"""The garbage collector's settings for a serving process (`roomtimer serve`, gunicorn).

Measured with 5000 viewers joining one room (bench/fanout.js), CPython 3.11's defaults
spent about a fifth of the server's CPU in the cyclic collector: a young collection
every 700 allocations, and a full one each time the heap grew by a quarter, each full
one pausing the loop 150–250 ms once thousands of viewers were connected. Here the young
generation holds 10000 allocations (a full collection waits for a million, and still a
quarter of growth), and what exists when serving starts (modules, the app, the ORM's
mappings: about 90 000 objects that live as long as the process) is frozen out of
every later collection. Cycles still get collected; only less often.
"""

import gc

YOUNG_THRESHOLD = 10_000


def tune_for_serving() -> None:
    """Call once in the serving process, after the app is built and before it serves."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    gc.collect()  # what startup left as garbage is not frozen with the rest
    gc.freeze()
