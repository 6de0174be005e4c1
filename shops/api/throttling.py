"""Rate limits counted atomically in Redis, shared by every server process (seed 001).

A fixed window per client: INCR and EXPIRE in one pipeline. If Redis cannot be reached the
request is let through and the failure logged: reads must keep working while Redis is down.
After a failure Redis is left alone for ``REDIS_DOWN_SECONDS`` (one warning, no per-request
timeout), then tried again.
"""

import logging
import time
from functools import lru_cache

import redis
from django.conf import settings
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

REDIS_DOWN_SECONDS = 5.0
_redis_down_until = 0.0


@lru_cache(maxsize=2)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def client_identity(request) -> str:
    if request.auth is not None and hasattr(request.auth, "pk"):
        return f"token:{request.auth.pk}"
    if request.user and request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return f"ip:{request.META.get('REMOTE_ADDR', '')}"


class RedisWindowThrottle(BaseThrottle):
    """Applies ``settings.API_RATE_LIMITS[view.throttle_scope]`` = (requests, seconds)."""

    def allow_request(self, request, view):
        scope = getattr(view, "throttle_scope", None)
        url = settings.RATE_LIMIT_REDIS_URL
        if scope is None or scope not in settings.API_RATE_LIMITS or not url:
            return True
        global _redis_down_until
        if time.monotonic() < _redis_down_until:
            return True
        limit, period = settings.API_RATE_LIMITS[scope]
        now = time.time()
        window = int(now // period)
        key = f"ratelimit:{scope}:{client_identity(request)}:{window}"
        try:
            pipe = _client(url).pipeline()
            pipe.incr(key)
            pipe.expire(key, period + 5)
            count = pipe.execute()[0]
        except redis.RedisError as exc:
            _redis_down_until = time.monotonic() + REDIS_DOWN_SECONDS
            logger.warning("Rate limits not applied for %ss, Redis unavailable: %s", REDIS_DOWN_SECONDS, exc)
            return True
        self.wait_seconds = max(1, int((window + 1) * period - now + 0.999))
        return count <= limit

    def wait(self):
        return getattr(self, "wait_seconds", None)
