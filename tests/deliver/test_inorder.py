"""Requests that share a user go one after another; batches are cut between users where they fit."""

from __future__ import annotations

from gleap_actions.deliver.batch import Work
from gleap_actions.deliver.inorder import chains, send_chain
from gleap_actions.deliver.request import user_chunks
from gleap_actions.queue.store import Delivery


def work(*users: str | None) -> Work:
    deliveries = [Delivery(i, i, "m", 0, None, 0.0, b"{}", user) for i, user in enumerate(users)]
    return Work(deliveries, [{} for _ in users], 0.0)


def test_requests_linked_by_a_user_form_one_chain_in_order() -> None:
    works = [work("a", "b"), work("c"), work("b", "d"), work(None), work("d"), work(None)]
    assert sorted(chains(works)) == [[0, 2, 4], [1], [3], [5]]


async def test_a_request_behind_an_unsettled_one_of_its_user_is_given_back_unsent() -> None:
    sent: list[str] = []
    given_back: list[str] = []
    outcomes = {"a1": False, "b1": True, "ab2": True, "b3": True}

    async def send(name: str, w: Work) -> bool:
        sent.append(name)
        return outcomes[name]

    async def give_back(w: Work) -> None:
        given_back.append(",".join(sorted(w.users)))

    items = [("a1", work("a")), ("b1", work("b")), ("ab2", work("a", "b")), ("b3", work("b"))]
    assert await send_chain(items, send, give_back) is False
    # a1 is to be retried: the request carrying a's later event goes back, and with it b's later ones.
    assert sent == ["a1", "b1"]
    assert given_back == ["a,b", "b"]


def test_batches_are_cut_between_users_where_a_users_events_fit() -> None:
    users = ["a", "a", "b", "b", "b", None, "c", "c", "c", "c", "c"]
    assert user_chunks(users, 4) == [[0, 1], [2, 3, 4, 5], [6, 7, 8, 9], [10]]


async def test_every_user_of_an_unsettled_request_stays_held_until_the_chain_ends() -> None:
    """Users held back accumulate: a later failure or give-back does not release an earlier one's users,
    and a chain whose only failure is a send is not settled."""
    sent: list[str] = []
    given_back: list[str] = []
    failing = {"a1", "c1"}

    async def send(name: str, w: Work) -> bool:
        sent.append(name)
        return name not in failing

    async def give_back(w: Work) -> None:
        given_back.append(",".join(sorted(w.users)))

    after_send = [("a1", work("a")), ("c1", work("c")), ("a2", work("a")), ("ac3", work("a", "c"))]
    assert await send_chain(after_send, send, give_back) is False
    assert (sent, given_back) == (["a1", "c1"], ["a", "a,c"])
    sent.clear()
    given_back.clear()
    after_give_back = [("a1", work("a")), ("c1", work("c")), ("a2", work("a")), ("c2", work("c"))]
    assert await send_chain(after_give_back, send, give_back) is False
    assert (sent, given_back) == (["a1", "c1"], ["a", "c"])
    assert await send_chain([("c1", work("c"))], send, give_back) is False
    assert await send_chain([("b1", work("b"))], send, give_back) is True
