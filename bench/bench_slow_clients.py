"""Slow clients against a real `gleap-actions serve`: are half-sent requests cut off, memory given back?

Opens `--connections` connections: half send part of a request head, half a whole head (valid write key)
and part of a 1,000-byte body, then nothing. Measures the serve process's RSS before, with the
connections held, and `--wait` seconds later; how many connections the server closed by then; and
whether an honest request is answered while they are held. Run it against an older checkout for a
baseline (that one had no deadlines; pass no deadline options then).

    .venv/bin/python bench/bench_slow_clients.py [--connections 5000] [--wait 40]
        [--header-timeout 10] [--body-timeout 30]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import WRITE_KEY, SandboxProcess, ServeProcess, rss_mb

HEAD = b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Le"
BASIC = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
FULL_HEAD = (
    f"POST /v1/track HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {BASIC}\r\n"
    "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
).encode()


Held = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _hold(host: str, port: int, half_body: bool) -> Held | None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        return None
    writer.write(FULL_HEAD + b'{"userId": "u", "event": "slow", "pad": "' if half_body else HEAD)
    await writer.drain()
    return reader, writer  # the writer too: dropping it would close the connection from our side


async def _closed(held: Held | None) -> bool:
    """Whether the server closed this connection (an answer and EOF, or EOF)."""
    if held is None:
        return True
    reader = held[0]
    try:
        async with asyncio.timeout(0.5):
            while await reader.read(65536):
                pass
        return True
    except TimeoutError:
        return False
    except OSError:
        return True


def _honest_ok(url: str) -> bool:
    request = urllib.request.Request(
        url + "/v1/track",
        data=json.dumps({"userId": "u", "event": "honest"}).encode(),
        headers={"Authorization": f"Basic {BASIC}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def _run(serve: ServeProcess, connections: int, wait: float) -> dict[str, object]:
    host, port = serve.url.removeprefix("http://").split(":")
    before = rss_mb(serve.pid)
    readers = [await _hold(host, int(port), n % 2 == 1) for n in range(connections)]
    await asyncio.sleep(1)
    held_rss = rss_mb(serve.pid)
    honest_while_held = await asyncio.to_thread(_honest_ok, serve.url)
    await asyncio.sleep(wait)
    closed = await asyncio.gather(*(_closed(r) for r in readers))  # at once: no deadline passes meanwhile
    heads_closed = sum(c for n, c in enumerate(closed) if n % 2 == 0)
    for connection in readers:
        if connection is not None:
            connection[1].close()
    return {
        "connections": connections,
        "opened": sum(r is not None for r in readers),
        "closed_by_server_after_wait": sum(closed),
        "half_heads_closed": heads_closed,
        "half_bodies_closed": sum(closed) - heads_closed,
        "rss_before_mb": round(before, 1),
        "rss_held_mb": round(held_rss, 1),
        "rss_after_mb": round(rss_mb(serve.pid), 1),
        "honest_request_answered_while_held": honest_while_held,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--wait", type=float, default=40.0)
    parser.add_argument("--header-timeout", default=None, help="e.g. 10s (default: the service's)")
    parser.add_argument("--body-timeout", default=None, help="e.g. 30s (default: the service's)")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    server = {}
    if args.header_timeout:
        server["header_timeout"] = args.header_timeout
    if args.body_timeout:
        server["body_timeout"] = args.body_timeout
    with SandboxProcess(lean=True) as sandbox, ServeProcess(sandbox.url, server=server) as serve:
        result = asyncio.run(_run(serve, args.connections, args.wait))
    print(json.dumps(result, indent=2))
    if args.output is not None:
        args.output.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
