"""schemathesis against the OpenAPI document: thousands of generated requests, no 5xx.

The server is a real `roomtimer serve`; the requests are counted on the server side
(`roomtimer_http_requests_total`), so the figure does not rest on the fuzzer's word.
`ROOMTIMER_FUZZ_SEED` replays another seed (CI uses a fixed one, so a red run is
reproducible); `ROOMTIMER_FUZZ_EXAMPLES` asks for more examples per operation.
"""

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.app import make_token

SECRET = "fuzz-secret-for-the-suite-only-0123"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)
SERIES = re.compile(r'^roomtimer_http_requests_total\{.*status="(\d+)"\} (\S+)$', re.M)


async def requests_by_status(url: str) -> dict[int, int]:
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as reply:
        text = await reply.text()
    counts: dict[int, int] = {}
    for status, value in SERIES.findall(text):
        counts[int(status)] = counts.get(int(status), 0) + int(float(value))
    return counts


@pytest.mark.long
async def test_5000_generated_requests_get_no_5xx_and_only_documented_answers(
    server_factory: Any, tmp_path: Path
) -> None:
    # Generous limits: a 429 for every request past the first few would fuzz nothing.
    env = {
        "JWT_SECRET": SECRET,
        "RATE_LIMIT_MAX_REQUESTS": "100000000",
        "SHARE_TOKEN_MAX_MISSES": "100000000",
        "LOG_LEVEL": "WARNING",
    }
    server = await server_factory(env, workdir=tmp_path / "server")
    before = await requests_by_status(server.url)
    schemathesis = Path(sys.executable).with_name("schemathesis")
    proc = await asyncio.create_subprocess_exec(
        str(schemathesis), "run", f"{server.url}/api/openapi.json",
        "-H", f"Authorization: Bearer {make_token('fuzzer', secret=SECRET)}",
        "--checks", CHECKS,
        "--max-examples", os.environ.get("ROOMTIMER_FUZZ_EXAMPLES", "300"),
        "--seed", os.environ.get("ROOMTIMER_FUZZ_SEED", "1"),
        "--request-timeout", "10",  # a hang is a failure, not a stuck suite
        "--no-color",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), 300)
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]
    after = await requests_by_status(server.url)
    answered = {s: after.get(s, 0) - before.get(s, 0) for s in after}
    assert sum(answered.values()) >= 5000, (answered, text[-2000:])
    assert not [s for s, n in answered.items() if s >= 500 and n], answered
    assert "ERROR" not in server.stderr() and "Traceback" not in server.stderr()
