import asyncio

import pytest

from gleap_actions.deliver.ackcommit import AckCommit


async def test_concurrent_calls_share_commits_and_wait_for_them() -> None:
    commits: list[list[int]] = []

    async def write(ids: list[int]) -> None:
        await asyncio.sleep(0.02)
        commits.append(ids)

    group = AckCommit(write)
    await asyncio.gather(*(group([i]) for i in range(10)))
    assert sorted(i for c in commits for i in c) == list(range(10))
    assert len(commits) <= 2  # the first call's commit, then everyone who came while it ran


async def test_a_failed_commit_fails_its_callers() -> None:
    async def write(ids: list[int]) -> None:
        raise OSError("disk full")

    group = AckCommit(write)
    with pytest.raises(OSError):
        await group([1])
    with pytest.raises(OSError):
        await group([2])
