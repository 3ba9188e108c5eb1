"""A read running here that waits for Mida or Slack longer than a tick of the watch gives its slot
to another read (what it waits for takes no CPU here) and takes one back after, before any read
that has not started; a quick answer keeps the slot, so an instant Mida still counts as work."""

from __future__ import annotations

import asyncio

import pytest

from bot.slack.headroom import Headroom, holding, waiting_elsewhere

TICK = 0.005


async def ticks(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def a_while() -> None:
    """Long enough for the watch to tick a few times."""
    await asyncio.sleep(10 * TICK)


async def away(headroom: Headroom, answered: asyncio.Event, *, then_done: bool = False) -> asyncio.Task[None]:
    """A read here, with its slot, that waits for Mida until `answered`."""

    async def read() -> None:
        with holding(headroom):
            async with waiting_elsewhere(then_done=then_done):
                await answered.wait()

    assert headroom.try_take()
    task = asyncio.create_task(read())
    await ticks()
    return task


async def test_a_read_waiting_for_mida_lets_another_work_and_comes_back_before_new_ones():
    headroom = Headroom(slots=1, tick=TICK)
    answered = asyncio.Event()  # Mida's answer
    steps: list[str] = []

    async def read() -> None:
        with holding(headroom):
            async with waiting_elsewhere():
                await answered.wait()
            steps.append(f"back with {headroom.running} running")

    assert headroom.try_take()
    task = asyncio.create_task(read())
    await a_while()
    assert (headroom.running, headroom.elsewhere) == (0, 1)
    assert headroom.try_take()  # another read works meanwhile, in the one slot
    answered.set()
    await ticks()
    assert steps == []  # back, but the slot is taken: in line
    assert headroom.waiting == 1 and headroom.elsewhere == 0
    assert not headroom.has_room()  # a new read would wait behind the one coming back
    headroom.release()  # the other read is done: the slot goes to the one that came back
    await asyncio.wait_for(task, timeout=10)
    assert steps == ["back with 1 running"]
    assert (headroom.running, headroom.waiting, headroom.elsewhere) == (0, 0, 0)
    await headroom.aclose()


async def test_a_quick_answer_keeps_the_slot():
    headroom = Headroom(slots=1, tick=10.0)  # no tick of the watch before Mida answers
    answered = asyncio.Event()
    read = await away(headroom, answered)
    assert headroom.running == 1 and headroom.elsewhere == 0
    assert not headroom.has_room()  # an instant Mida is part of the work: the slot stays taken
    answered.set()
    await read
    assert headroom.running == 0 and headroom.has_room()
    await headroom.aclose()


async def test_the_last_wait_of_a_read_does_not_take_a_slot_back():
    headroom = Headroom(slots=1, tick=TICK)
    answered = asyncio.Event()
    read = await away(headroom, answered, then_done=True)  # posting the answer to Slack: nothing left here
    await a_while()
    assert (headroom.running, headroom.elsewhere) == (0, 1)
    answered.set()
    await read
    assert (headroom.running, headroom.waiting, headroom.elsewhere) == (0, 0, 0)  # none taken, none given twice
    assert headroom.has_room()
    await headroom.aclose()


async def test_outside_a_read_running_here_it_changes_nothing():
    headroom = Headroom(slots=1, tick=TICK)
    async with waiting_elsewhere():  # the worker, or a write
        await a_while()
        assert headroom.elsewhere == 0
    assert headroom.try_take()
    await headroom.aclose()


async def test_a_read_cancelled_while_it_waits_or_waits_to_come_back_leaves_the_counts_right():
    headroom = Headroom(slots=1, tick=TICK)
    never = asyncio.Event()
    waiting = await away(headroom, never)
    await a_while()
    waiting.cancel()  # while waiting for Mida
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert (headroom.running, headroom.waiting, headroom.elsewhere) == (0, 0, 0)

    answered = asyncio.Event()
    coming_back = await away(headroom, answered)
    await a_while()
    assert headroom.try_take()  # the slot is someone else's when it comes back
    answered.set()
    await ticks()
    assert headroom.waiting == 1
    coming_back.cancel()  # while in line to come back
    with pytest.raises(asyncio.CancelledError):
        await coming_back
    assert (headroom.running, headroom.waiting, headroom.elsewhere) == (1, 0, 0)
    headroom.release()
    assert headroom.has_room()
    await headroom.aclose()


async def test_reads_waiting_elsewhere_count_towards_the_most_under_way():
    headroom = Headroom(slots=4, in_flight=2, tick=TICK)
    answered = asyncio.Event()
    reads = [await away(headroom, answered), await away(headroom, answered)]
    await a_while()
    assert headroom.running == 0 and headroom.elsewhere == 2
    assert not headroom.has_room()  # two under way: a third waits
    answered.set()
    await asyncio.gather(*reads)
    assert headroom.has_room()
    await headroom.aclose()


async def test_while_the_loop_runs_late_reads_waiting_elsewhere_count_towards_the_few_that_may_start():
    headroom = Headroom(slots=4, busy_slots=1, hold=5, tick=TICK)
    headroom.waits_here = True  # plain `serve`
    answered = asyncio.Event()
    read = await away(headroom, answered)
    await a_while()
    assert headroom.has_room()  # on time: four may work, whoever waits for Mida
    headroom.late()
    assert not headroom.has_room()  # late: one under way is all, even waiting for Mida
    answered.set()
    await read
    assert headroom.has_room()
    await headroom.aclose()
