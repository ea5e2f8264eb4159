"""`gleap-actions audiences list|show` with the config's store: state and member counts."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from gleap_actions.cli import cli
from gleap_actions.compute import Computer
from gleap_actions.config import load_config
from gleap_actions.queue.factory import open_store

from .support import Clock, append

CONFIG = """
storage: {data_dir: ./data}
audiences:
  - name: Recent Buyers
    definition: "event('Order Completed').count() >= 1"
"""


def test_list_and_show_count_members_once_the_store_exists(tmp_path: Path) -> None:
    config_file = tmp_path / "c.yaml"
    config_file.write_text(CONFIG)
    out = CliRunner().invoke(cli, ["audiences", "list", "--config", str(config_file)]).stdout
    assert out == "audience\trecent_buyers\tenabled\tRecent Buyers\n"  # no store yet: none is created
    assert not (tmp_path / "data").exists()

    config = load_config(config_file)
    (tmp_path / "data").mkdir()
    backend = open_store(None, data_dir=tmp_path / "data")
    clock = Clock()
    computer = Computer(backend.store, config.audiences, owner="test", clock=clock)
    computer.step()
    append(backend.store, {"type": "track", "event": "Order Completed", "userId": "u1"}, at=clock.now)
    while computer.step():
        pass
    backend.close()

    out = CliRunner().invoke(cli, ["audiences", "list", "--config", str(config_file)]).stdout
    assert out == "audience\trecent_buyers\tenabled\tlive\t1 members\tRecent Buyers\n"
    out = CliRunner().invoke(cli, ["audiences", "show", "recent_buyers", "--config", str(config_file)]).stdout
    assert out.endswith("state: live\nmembers: 1\n")
