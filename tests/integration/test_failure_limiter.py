"""The failure limiter's local memory of clean names (api.ratelimit), against a real Redis shared by two
limiters standing for two API processes."""

import redis

from api.ratelimit import FailureLimiter


async def test_a_failure_seen_here_makes_the_next_check_ask_redis(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    here, elsewhere = FailureLimiter(redis_url, 2), FailureLimiter(redis_url, 2)
    assert await here.blocked(["addr:a"]) is None  # now remembered clean here
    await elsewhere.failed(["addr:a"])
    await elsewhere.failed(["addr:a"])
    assert await elsewhere.blocked(["addr:a"]) is not None
    # Here it is still taken as clean (at most clean_s, and only until a failure is counted here)...
    assert await here.blocked(["addr:a"]) is None
    # ...and the first failure it sees here sends the next check to Redis, which refuses it.
    await here.failed(["addr:a"])
    wait = await here.blocked(["addr:a"])
    assert wait is not None and 1 <= wait <= 60


async def test_without_the_memory_every_check_asks_redis(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    here, elsewhere = FailureLimiter(redis_url, 1, clean_s=0.0), FailureLimiter(redis_url, 1)
    assert await here.blocked(["key:k"]) is None
    await elsewhere.failed(["key:k"])
    assert await here.blocked(["key:k"]) is not None
    assert await here.blocked(["key:other"]) is None
