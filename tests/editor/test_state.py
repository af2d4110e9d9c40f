"""Editor state in Redis: publish-once, encounter lookup, context turns."""

from __future__ import annotations

import redis.asyncio as aioredis

from services.editor.state import EditorState, EditOutcome
from shared.contracts import EditedTurn, EncounterStarted, StreamNames, SttSettings
from shared.streams import publish
from tests.editor.support import make_turn


def state_for(redis: aioredis.Redis, names: StreamNames) -> EditorState:
    return EditorState(redis, names, prompt_version="t1", result_ttl_s=600)


async def test_publish_once_is_atomic_and_idempotent(
    redis: aioredis.Redis, names: StreamNames
) -> None:
    state = state_for(redis, names)
    turn = make_turn("enc-1", 4)
    edited = EditedTurn(**dict(turn), edited_text="x", edit_status="edited", llm_model="m")
    assert not (await state.prepare(turn, remember=False, context_turns=0)).published
    first = await state.publish_once(edited)
    assert first is not None
    assert await state.publish_once(edited) is None
    assert (await state.prepare(turn, remember=False, context_turns=0)).published
    assert await redis.xlen(names.edited) == 1


async def test_encounter_found_by_scanning_control_when_not_recorded(
    redis: aioredis.Redis, names: StreamNames
) -> None:
    state = state_for(redis, names)
    started = EncounterStarted(
        encounter_id="enc-s", room="r", llm_model="gemini-2.5-pro", stt=SttSettings(keyterms=("x",))
    )
    await publish(redis, names.control, started)
    turn = make_turn("enc-s", 0)
    assert (await state.prepare(turn, remember=False, context_turns=0)).encounter is None
    info = await state.encounter_from_control("enc-s")
    assert (info.model, info.keyterms) == ("gemini-2.5-pro", ("x",))
    assert await redis.exists(names.key("editor", "enc", "enc-s"))  # recorded for next time
    recorded = (await state.prepare(turn, remember=False, context_turns=0)).encounter
    assert recorded == info
    assert (await state.encounter_from_control("enc-unknown")).model is None


async def test_context_is_the_turns_just_before(redis: aioredis.Redis, names: StreamNames) -> None:
    state = state_for(redis, names)

    async def context(seq: int, count: int, remember: bool = True) -> tuple[str, ...]:
        turn = make_turn("enc-c", seq, f"turn {seq}")
        return (await state.prepare(turn, remember=remember, context_turns=count)).context

    assert await context(0, 2) == ()
    assert await context(1, 2) == ("turn 0",)
    assert await context(3, 2) == ("turn 1",)  # seq 2 never arrived
    assert await context(2, 2, remember=False) == ("turn 0", "turn 1")
    assert await context(4, 3, remember=False) == ("turn 1", "turn 3")  # 2 was not kept
    assert await context(4, 0) == ()


async def test_a_cached_edit_is_read_back_and_a_fallback_is_not_cached(
    redis: aioredis.Redis, names: StreamNames
) -> None:
    state = state_for(redis, names)
    turn, other = make_turn("enc-r", 0), make_turn("enc-r", 1)
    assert (await state.prepare(turn, remember=False, context_turns=0)).cached is None
    await state.store_result(turn, EditOutcome("Clean.", "edited", "m", request_id="r1"))
    await state.store_result(other, EditOutcome("as spoken", "fallback", "m", "timeout"))
    cached = (await state.prepare(turn, remember=False, context_turns=0)).cached
    assert cached == EditOutcome("Clean.", "edited", "m", request_id="r1", cached=True)
    assert (await state.prepare(other, remember=False, context_turns=0)).cached is None
    await redis.set(names.editor_result("t1", "enc-r", 1), b"{not json")
    assert (await state.prepare(other, remember=False, context_turns=0)).cached is None


async def test_publish_once_acknowledges_the_raw_turn_in_the_same_step(
    redis: aioredis.Redis, names: StreamNames
) -> None:
    """The raw turn is acknowledged by the write that publishes its edit (and by a repeat
    that finds it published): no separate XACK that a failover could split from it."""
    state = state_for(redis, names)
    await redis.xgroup_create(names.turns, "editor", id="0", mkstream=True)
    turn = make_turn("enc-2", 0)
    first_id = (await publish(redis, names.turns, turn)).decode()
    again_id = (await publish(redis, names.turns, turn)).decode()  # a redelivered copy
    await redis.xreadgroup("editor", "c", {names.turns: ">"})
    assert (await redis.xpending(names.turns, "editor"))["pending"] == 2
    edited = EditedTurn(**dict(turn), edited_text="x", edit_status="edited", llm_model="m")
    assert await state.publish_once(edited, ("editor", first_id)) is not None
    assert (await redis.xpending(names.turns, "editor"))["pending"] == 1
    assert await state.publish_once(edited, ("editor", again_id)) is None
    assert (await redis.xpending(names.turns, "editor"))["pending"] == 0
    assert await redis.xlen(names.edited) == 1
