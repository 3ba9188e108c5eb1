from bot.domain import Action, Evidence, Person, TeamRef, Draft
from bot.mida.models import ExperimentStatus, VariantResult
from bot.store.drafts import DraftStore, new_id
from bot.store.keys import ws_key

TEAM = TeamRef(team_id="T1", enterprise_id="E1")


def draft(**kw) -> Draft:
    evidence = Evidence(test_id=42, test_name="Hero", status=ExperimentStatus.LIVE, taken_at=1.5,
                        variants=[VariantResult(variant_id="0", name="Control", visitors=10, conversions=1,
                                                conversion_rate=0.1, is_control=True)])
    return Draft(id=kw.pop("id", new_id()), team=TEAM, requester=Person(user_id="U1", team_id="T1"),
                 channel_id="C1", action=Action.SERVE_WINNER, test_id=42, evidence=evidence, **kw)


async def test_put_get_delete(redis):
    store = DraftStore(redis)
    d = draft(variant_id="1", rollout=50.0)
    assert await store.get(TEAM, d.id) is None
    await store.put(d)
    assert await store.get(TEAM, d.id) == d
    ttl = await redis.ttl(ws_key(TEAM, "draft", d.id))
    assert 3500 < ttl <= 3600
    await store.delete(TEAM, d.id)
    assert await store.get(TEAM, d.id) is None


async def test_update_keeps_ttl_and_never_resurrects(redis):
    store = DraftStore(redis, ttl_seconds=100)
    d = draft()
    await store.put(d)
    await redis.expire(ws_key(TEAM, "draft", d.id), 50)
    changed = d.model_copy(update={"view_id": "V123", "rollout": 10.0})
    assert await store.update(changed) is True
    assert await store.get(TEAM, d.id) == changed
    assert 0 < await redis.ttl(ws_key(TEAM, "draft", d.id)) <= 50

    gone = draft()
    assert await store.update(gone) is False
    assert await store.get(TEAM, gone.id) is None


async def test_drafts_are_per_workspace(redis):
    store = DraftStore(redis)
    d = draft()
    await store.put(d)
    assert await store.get(TeamRef(team_id="T1"), d.id) is None


async def test_crafted_draft_ids_are_refused(redis):
    import pytest

    store = DraftStore(redis)
    assert await store.get(TEAM, "x:y") is None
    with pytest.raises(ValueError):
        await store.put(draft(id="x:y"))
    assert await store.update(draft(id="{x}")) is False
