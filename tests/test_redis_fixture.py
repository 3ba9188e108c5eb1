async def test_redis_fixture_reaches_a_real_server(redis):
    await redis.set("mida:probe", b"1")
    assert await redis.get("mida:probe") == b"1"
    info = await redis.info("server")
    assert "redis_version" in info
