"""`preview` of a file in several processes at once, with the same output as in one.

The file's lines are cut into consecutive chunks. Worker processes (forked, so they share the lines and
the compiled config without copying them) take the next chunk whenever they are free, preview it as
`preview.preview_part` does in one process, and send back its final lines and the valid payloads of its
batching mappings. The parent adds the chunks in file order to a `preview.Assembly`, which groups payloads
into batch requests over the whole file: batches cross chunk boundaries exactly as in one process.
"""

from __future__ import annotations

import marshal
import os
import pickle
import signal
import time
import traceback
from collections.abc import Iterator
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from gleap_actions.config import Config
from gleap_actions.preview import (
    Assembly,
    Part,
    collection_paused,
    is_blank,
    parsed_lines,
    preview,
    preview_part,
)

MIN_LINES = 5_000  # below this, starting processes costs more than it saves
_CHUNK_LINES = 2_500  # small: the parent batches while workers run, and the last chunk ends soon
_DONE = b"D"  # a worker's last message: it took every chunk it could


class PreviewJobError(RuntimeError):
    """A worker process failed or ended before sending its chunks."""


def available_cpus() -> int:
    """The number of CPUs this process may run on."""
    count = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if count is not None:
        return int(count() or 1)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def preview_lines(lines: list[bytes], config: Config, *, batch: bool, jobs: int) -> Iterator[bytes]:
    """`preview.preview(lines, config, batch=batch)`, worked out by `jobs` processes when it pays off
    (more than one job, `MIN_LINES` lines or more, and a platform that can fork)."""
    if jobs < 2 or len(lines) < MIN_LINES or "fork" not in get_all_start_methods():
        return preview(lines, config, batch=batch)
    received_at = time.time()  # one instant for the whole file, as in one process
    chunks = _chunks(lines, jobs)
    with collection_paused():
        assembly = Assembly(config, batch)
        _run_workers(lines, chunks, config, batch, received_at, jobs, assembly)
        return assembly.lines()


# (first line, end line, event_index of the first non-blank line)
_Chunk = tuple[int, int, int]


def _chunks(lines: list[bytes], jobs: int) -> list[_Chunk]:
    """Consecutive chunks of about `_CHUNK_LINES` lines (at least two per job), numbered as in one pass."""
    size = max(1, min(_CHUNK_LINES, -(-len(lines) // (2 * jobs))))
    chunks: list[_Chunk] = []
    first_index = 0
    for start in range(0, len(lines), size):
        end = min(start + size, len(lines))
        chunks.append((start, end, first_index))
        first_index += sum(1 for line in lines[start:end] if not is_blank(line))
    return chunks


def _run_workers(
    lines: list[bytes],
    chunks: list[_Chunk],
    config: Config,
    batch: bool,
    received_at: float,
    jobs: int,
    assembly: Assembly,
) -> None:
    """The parts of `chunks` added to `assembly`, in order. Workers still running when this returns or
    raises (a worker's error, Ctrl+C) are ended."""
    context = get_context("fork")
    pipes = [context.Pipe(duplex=False) for _ in range(jobs)]
    taken = context.Value("q", 0)  # chunks taken by the workers: each takes the next when it is free
    workers = []
    # Ctrl+C is the parent's to handle (it ends the workers): blocked until a worker ignores it.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        for job, (_, sender) in enumerate(pipes):
            others = [end for pipe in pipes for end in pipe if end is not sender]
            worker = context.Process(
                target=_work,
                args=(lines, chunks, taken, config, batch, received_at, sender, others),
                name=f"gleap-actions preview {job + 1}",
                daemon=True,
            )
            worker.start()
            workers.append(worker)
            sender.close()  # the worker's end: receiving sees EOF once the worker is gone
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    try:
        _receive([receiver for receiver, _ in pipes], len(chunks), assembly)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()


def _receive(receivers: list[Connection], count: int, assembly: Assembly) -> None:
    """Every chunk's part added to `assembly` in chunk order, as the workers send them."""
    parts: dict[int, Part] = {}  # received, not added yet
    added = 0
    open_receivers = set(receivers)
    while open_receivers:
        for receiver in wait(list(open_receivers)):
            assert isinstance(receiver, Connection)
            try:
                message = receiver.recv_bytes()
            except EOFError:  # gone without `_DONE`: its chunk will never come
                raise PreviewJobError(
                    f"a preview worker ended before sending its results ({count - added} of {count}"
                    " chunks missing)"
                ) from None
            if message == _DONE:
                open_receivers.discard(receiver)
                continue
            number, result = (marshal.loads if message[:1] == b"M" else pickle.loads)(message[1:])
            if isinstance(result, str):
                raise PreviewJobError(f"a preview worker failed:\n{result}")
            parts[number] = Part(*result)
            while added in parts:
                assembly.add(parts.pop(added))
                added += 1
    assert added == count, "every worker done, chunks missing"


def _work(
    lines: list[bytes],
    chunks: list[_Chunk],
    taken: Synchronized[int],
    config: Config,
    batch: bool,
    received_at: float,
    sender: Connection,
    others: list[Connection],
) -> None:
    """A worker: the part of each chunk it takes, then `_DONE`; a failure is sent as its traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    for end in others:  # so that the parent alone holds the receiving ends (EOF when it is gone)
        end.close()
    with collection_paused():
        while (number := _take(taken)) < len(chunks):
            start, end_line, first_index = chunks[number]
            try:
                parsed = parsed_lines(lines[start:end_line], first_line=start + 1)
                part = preview_part(
                    parsed, config, batch, owned=True, received_at=received_at, first_index=first_index
                )
            except BaseException:
                sender.send_bytes(_encode((number, traceback.format_exc())))
                return
            sender.send_bytes(_encode((number, (part.lines, part.batched))))
    sender.send_bytes(_DONE)


def _take(taken: Synchronized[int]) -> int:
    """The number of the next chunk no worker has taken yet."""
    with taken.get_lock():
        number: int = taken.value
        taken.value = number + 1
    return number


def _encode(message: tuple[int, Any]) -> bytes:
    """`message` for the parent: marshal (a third of pickle's time for payloads) where it can, else
    pickle (a payload holding a type marshal does not know); the first byte says which."""
    try:
        return b"M" + marshal.dumps(message)
    except ValueError:
        return b"P" + pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
