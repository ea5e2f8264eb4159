"""`kill -9` of the service, repeatedly, under steady load: every event answered 200 is delivered."""

from __future__ import annotations

import random
import time

from gleap_actions.sandbox import SandboxThread

from .conftest import StartServe
from .harness import SOAK, Client, Load, assert_no_secrets, reconcile, record, wait_until

KILLS = 30 if SOAK else 3
EVENTS = 200_000 if SOAK else 3_000


def test_kill_9_repeatedly_under_load_loses_nothing(sandbox: SandboxThread, serve: StartServe) -> None:
    service = serve(sandbox.url)
    load = Load(service.url, EVENTS, rate=1000, max_seconds=KILLS * 10 + 60).start()
    rng = random.Random(6)
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.5, 2.0))
        service.kill9()
        service.start()
    load.stop()
    client = Client(service.url)
    wait_until(client.queue_empty, 60, "queue drained")
    report = reconcile(load, sandbox.state, client.dead_letters())
    record("kill -9", report, kills=KILLS)
    assert report.accepted > 0
    assert report.lost == 0, report
    assert report.dead_lettered == 0, report
    assert_no_secrets([service.log_text(), client.metrics(), *client.seen])
