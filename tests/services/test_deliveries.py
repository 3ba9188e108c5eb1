from bot.domain import TeamRef
from bot.services.deliveries import Deliveries
from bot.store.dedupe import Dedupe


async def test_only_the_first_delivery_of_an_event_id_counts_per_workspace(redis):
    deliveries = Deliveries(Dedupe(redis))
    one, other = TeamRef(team_id="T1"), TeamRef(team_id="T2")
    assert await deliveries.first_delivery(one, "Ev1") is True
    assert await deliveries.first_delivery(one, "Ev1") is False  # Slack's retry
    assert await deliveries.first_delivery(other, "Ev1") is True  # another workspace's id space


async def test_an_event_naming_only_its_enterprise_is_deduplicated_in_the_enterprise_s_scope(redis):
    deliveries = Deliveries(Dedupe(redis))
    org = TeamRef(team_id="", enterprise_id="E1")
    assert await deliveries.first_delivery(org, "Ev9") is True
    assert await deliveries.first_delivery(org, "Ev9") is False
    assert await deliveries.first_delivery(TeamRef(team_id="", enterprise_id="E2"), "Ev9") is True
    keys = {k.decode() async for k in redis.scan_iter(match=b"*")}
    assert keys == {"mida:{enterprise-E1}:dedupe:event:Ev9", "mida:{enterprise-E2}:dedupe:event:Ev9"}
