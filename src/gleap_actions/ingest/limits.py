"""Reading request bodies within Segment's size limits, gzip included, without ever holding more.

aiohttp's server decompresses `Content-Encoding: gzip` bodies itself by default (in bounded chunks, but it
misses truncated streams and logs bad ones as unhandled errors). Run the server with
`web.AppRunner(app, auto_decompress=False)` (`RUNNER_OPTIONS`): the body then arrives compressed and is
decompressed here with a cap. Both work: a JSON body never starts with the gzip magic bytes, so looking at
them tells the two cases apart.
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass

from aiohttp import web

_GZIP_MAGIC = b"\x1f\x8b"

RUNNER_OPTIONS: dict[str, object] = {"auto_decompress": False}


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """Segment's HTTP API limits (bytes are of the uncompressed JSON)."""

    max_event_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024
    max_batch_events: int = 2500
    body_timeout: float = 30.0  # seconds to receive a whole body: a slower one is answered 408


class BadRequest(Exception):
    """A request answered 400 with `{"code", "message"}`."""

    def __init__(self, code: str, message: str, *, close_connection: bool = False, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.close_connection = close_connection  # the body stream is broken: do not reuse the connection


def _too_large(limit: int, what: str) -> BadRequest:
    return BadRequest(f"{what}_too_large", f"the {what.replace('_', ' ')} exceeds the limit of {limit} bytes")


async def read_body(request: web.Request, limit: int, what: str, timeout: float = 30.0) -> bytes:
    """The request body, decompressed, at most `limit` bytes, read within `timeout` seconds; BadRequest
    otherwise (408 for too slow a body, and the connection is closed).

    `what` names the limit in the error ("batch", "event"). The declared Content-Length is checked before
    anything is read; the stream is then read with a running cap.
    """
    # Compressed JSON is smaller than the JSON, except for tiny or incompressible bodies (gzip framing).
    wire_limit = limit + limit // 64 + 1024
    declared = request.content_length
    if declared is not None and declared > wire_limit:
        raise _too_large(limit, what)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while chunk := await request.content.readany():
                size += len(chunk)
                if size > wire_limit:
                    raise _too_large(limit, what)
                chunks.append(chunk)
    except BadRequest:
        raise
    except TimeoutError:
        raise BadRequest(
            "body_timeout",
            f"the body did not arrive within {timeout:g} s",
            close_connection=True,
            status=408,
        ) from None
    except Exception as exc:  # aiohttp's own decompression failing, or the client going away mid-body
        raise BadRequest(
            "invalid_body", f"could not read the request body: {exc}".strip(), close_connection=True
        ) from None
    body = b"".join(chunks)
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip") and body.startswith(_GZIP_MAGIC):
        body = gunzip(body, limit, what)
    elif encoding in ("gzip", "x-gzip") and not body.lstrip().startswith(b"{"):
        # Not gzip, and not a JSON object that aiohttp already decompressed: the header is wrong.
        raise BadRequest(
            "invalid_gzip", f"the body is sent with Content-Encoding: {encoding} but is not gzip"
        )
    elif encoding not in ("", "identity", "gzip", "x-gzip"):
        raise BadRequest("unsupported_encoding", f"unsupported Content-Encoding {encoding[:32]!r} (use gzip)")
    if len(body) > limit:
        raise _too_large(limit, what)
    return body


def gunzip(data: bytes, limit: int, what: str) -> bytes:
    """Decompress a gzip body, refusing to produce more than `limit` bytes (no zip bombs)."""
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = decompressor.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BadRequest("invalid_gzip", f"the body is not valid gzip: {exc}") from None
    if len(body) > limit or decompressor.unconsumed_tail:
        raise _too_large(limit, what)
    if not decompressor.eof:
        raise BadRequest("invalid_gzip", "the gzip body is truncated")
    return body
