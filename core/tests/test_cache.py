"""The Redis cache backend builds its Redis client once, not once per cache call."""

import threading

import pytest
import redis
from django.conf import settings
from django.core.cache import caches

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")


@pytest.fixture
def clients_built(monkeypatch):
    built = []
    real_init = redis.Redis.__init__

    def counting_init(self, *args, **kwargs):
        built.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting_init)
    return built


def test_cache_calls_share_one_client(clients_built):
    cache = caches["default"]
    cache.set("kept-client", "one", 30)
    for _ in range(20):
        assert cache.get("kept-client") == "one"
        assert cache.get_many(["kept-client", "missing"]) == {"kept-client": "one"}
    assert cache.add("kept-client-lock", 1, 30)
    cache.delete("kept-client-lock")

    assert len(clients_built) == 1


def test_threads_share_the_client_and_each_gets_its_own_answers(clients_built):
    cache = caches["default"]
    errors = []

    def work(n):
        try:
            for i in range(50):
                cache.set(f"kept-client-{n}", i, 30)
                assert cache.get(f"kept-client-{n}") == i
        except Exception as error:  # noqa: BLE001 (reported below, with the thread's number)
            errors.append((n, error))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(clients_built) <= 8  # at worst one per thread racing the first call; usually 1
