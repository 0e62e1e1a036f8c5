"""How serve's protocol closes a connection it has ended (app/api/protocol_answers.py):
once all it sent has left, which counts what the transport still holds as well as the
kernel's queue, and at its deadline whatever is left."""

from __future__ import annotations

import asyncio

from app.api.protocol_answers import SENT_CHECK, Drain, unsent


class _Held:
    """A transport holding size bytes, with no socket (the kernel's queue is not read)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.ended = ""

    def get_write_buffer_size(self) -> int:
        return self.size

    def get_extra_info(self, name: str) -> None:
        return None

    def close(self) -> None:
        self.ended = self.ended or "closed"

    def abort(self) -> None:
        self.ended = self.ended or "aborted"


def test_unsent_counts_what_the_transport_still_holds() -> None:
    # uvloop's transports are no asyncio.WriteTransport: their buffer counted as nothing,
    # a connection could be closed with an answer still in it.
    assert unsent(_Held(5)) == 5  # type: ignore[arg-type]
    assert unsent(_Held(0)) == 0  # type: ignore[arg-type]


async def test_a_drain_closes_once_all_has_left() -> None:
    held = _Held(5)
    drain = Drain(asyncio.get_running_loop(), held, 10)  # type: ignore[arg-type]
    await asyncio.sleep(SENT_CHECK * 2)
    assert held.ended == ""
    held.size = 0
    await asyncio.sleep(SENT_CHECK * 2)
    assert held.ended == "closed"
    drain.cancel()


async def test_a_drain_drops_what_is_left_at_its_deadline() -> None:
    held = _Held(5)
    Drain(asyncio.get_running_loop(), held, SENT_CHECK)  # type: ignore[arg-type]
    await asyncio.sleep(SENT_CHECK * 3)
    assert held.ended == "aborted"


async def test_a_drain_cancelled_looks_no_more() -> None:
    held = _Held(5)
    Drain(asyncio.get_running_loop(), held, SENT_CHECK).cancel()  # type: ignore[arg-type]
    await asyncio.sleep(SENT_CHECK * 3)
    assert held.ended == ""


async def test_a_drain_waits_on_a_client_taking_it_in_up_to_its_longest() -> None:
    """The deadline counts from the client's last progress (review r10: a client reading
    a large answer steadily was cut), and DRAIN_LONGEST times it at most (one trickling a
    byte at a time would hold it for good)."""
    held = _Held(10_000)
    Drain(asyncio.get_running_loop(), held, SENT_CHECK * 2)  # type: ignore[arg-type]
    for _ in range(8):  # four deadlines' time, taking some in at each look
        await asyncio.sleep(SENT_CHECK)
        held.size -= 1
        assert held.ended == ""
    for _ in range(40):  # DRAIN_LONGEST deadlines are 20 looks
        if held.ended:
            break
        await asyncio.sleep(SENT_CHECK)
        held.size -= 1
    assert held.ended == "aborted"
    assert held.size > 0


async def test_a_drain_ends_by_the_time_it_is_given() -> None:
    """The kept-alive timeout gives the drain it starts what is left of the last answer's
    DRAIN_LONGEST deadlines: a pause in a slow reader's reading started them over (review
    r13: dropped at twice the cap)."""
    held = _Held(10_000)
    loop = asyncio.get_running_loop()
    drain = Drain(loop, held, 10)  # type: ignore[arg-type]
    drain.by(loop.time() + SENT_CHECK * 2)
    for _ in range(6):
        if held.ended:
            break
        await asyncio.sleep(SENT_CHECK)
        held.size -= 1  # taking it in all the while
    assert held.ended == "aborted"
