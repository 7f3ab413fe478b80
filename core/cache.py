"""Django's Redis cache backend, keeping one Redis client per connection pool.

Django's `RedisCacheClient.get_client()` wraps the pool in a new `redis.Redis` for every cache
call, and redis-py fills a dict of some 170 response callbacks in each one: about 0.09 ms of CPU
per call on a 2-core test machine (more when it is busy). A response the cache answers makes one
call (`core.http_cache`), one it renders four; in-process a cached API page went from 1.32-1.37
to 1.23-1.27 ms of CPU. A `redis.Redis` takes a connection from its pool for each command and
gives it back, so one client serves every thread of the process.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class KeptRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}  # id(pool) -> redis.Redis; the pools live as long as this object

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class RedisCache(DjangoRedisCache):
    """`django.core.cache.backends.redis.RedisCache`, with the client kept (see the module)."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = KeptRedisCacheClient
