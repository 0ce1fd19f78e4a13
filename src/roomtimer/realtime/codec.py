"""A JSON module for python-socketio's `json=` parameter, backed by orjson.

python-socketio and python-engineio call `dumps(obj, separators=(",", ":"))` and
`loads(text)`; the pub/sub managers call `dumps(message)` and `loads(bytes)`. orjson's
output is always compact, so formatting arguments are accepted and ignored.
"""

from typing import Any

import orjson

# Non-string dict keys are stringified, as the standard library does.
_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(obj: Any, **kwargs: Any) -> str:
    """Serialises `obj` to a compact JSON string."""
    return orjson.dumps(obj, default=kwargs.get("default"), option=_OPTIONS).decode()


def loads(s: str | bytes | bytearray | memoryview, **kwargs: Any) -> Any:
    """Parses JSON text or bytes (raises ValueError on bad input, as `json.loads` does)."""
    return orjson.loads(s)
