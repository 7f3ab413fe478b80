"""Caching of the public catalogue's responses for people who are not signed in.

Browsing is most of the traffic and, for anonymous visitors, the same for everyone: the page for
a URL changes only when the catalogue does. So an anonymous GET of a cached view is rendered once
per catalogue version and then served from the cache (Redis in production) without touching the
database, and carries an ETag and `Cache-Control: public, max-age` so a browser or CDN keeps it
and revalidates with If-None-Match, answered 304 from the version alone.

- The key is the absolute URL (scheme, host, path), the query sorted, the language and the Accept
  header where the view names it in `vary`. The entry holds the URL's latest rendering and the
  catalogue version it was rendered under; it answers only while that is still the version (both
  are read in one round trip), and the ETag is made of the key and the version.
- The version is a number kept in the cache. The app that owns the catalogue bumps it after a
  commit that changes what these pages show (`bump_catalogue_version`; marketplace connects it
  to its models' signals, reviews to the reviews that make ratings): every entry and ETag is
  then stale at once, and nothing is deleted (a URL's entry is replaced when next rendered). It
  also lapses after BAZAAR_HTTP_CACHE_VERSION_SECONDS, which bounds what the clock alone changes
  (a review revealed when its window ends) for a client that revalidates instead of refetching.
- Never cached, and sent `private, no-store`: anyone signed in (a session or an Authorization
  header: their pages show their favourites, bell, drafts); a request with messages waiting to
  be shown. Never stored: anything but a 200, a response setting a cookie (CSRF token, session),
  one whose view asked for a CSRF token (its form would carry someone else's token) or left
  messages.

One request renders a missing entry; the others asking for the same one meanwhile wait for it
(up to BAZAAR_HTTP_CACHE_WAIT_SECONDS) instead of rendering it too. A popular search missing
from the cache, after a catalogue change or at a cold start, would otherwise be computed by every
request that arrives while the first is still at it, each slowing the others down: a stampede in
which the figures of one request grow with the number of visitors.

The views answer from the cache once every middleware has run (sessions, CSRF, messages, the
signed-in person) and the URL is resolved: that alone cost about what the bare DRF view costs in
all. So FrontCacheMiddleware, just after the security and static-file middleware, keeps each
complete response the view layer made public (every header the middleware between added) and
answers the next identical request with it before the rest runs. It takes only requests that
cannot be anyone's in particular: a GET without an Authorization header, a session cookie or a
messages cookie. Its key adds to the URL what the stack between may vary on (the Accept header,
the language LocaleMiddleware will choose) and a fingerprint of the settings the middleware's
own headers come from (a deploy that changes the CSP is not answered with the old one); an entry
answers only under the catalogue version it was rendered under, as the view's. It looks up only
the paths it has seen a public response for, so other pages (a login, a health check) cost the
cache nothing, and a cache it cannot reach only makes it step aside. Anything else, a miss
included, goes through the whole stack and the view's cache as before.

BAZAAR_HTTP_CACHE_SECONDS is the clients' max-age; 0 turns the cache off (the test settings do,
so other tests see their own writes at once). An entry answers for as long as its version is the
catalogue's, so it is kept as long as a version can live (`entry_seconds()`), not just the
max-age: a popular search dropped every minute was rendered again every minute, each time
making the visitors asking for it meanwhile wait for that rendering.
"""

import contextlib
import functools
import hashlib
import logging
import threading
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import cache
from django.core.exceptions import DisallowedHost
from django.db import transaction
from django.http import HttpResponse, HttpResponseNotModified
from django.utils import translation
from django.utils.cache import add_never_cache_headers, patch_cache_control, patch_vary_headers
from django.utils.http import parse_etags
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

VERSION_KEY = "http-cache:catalogue-version"
# Headers the response sets itself (per request) or that must not be replayed.
_NOT_STORED = {"set-cookie", "content-length", "date", "x-request-id"}
_MESSAGES_COOKIE = CookieStorage.cookie_name
# What a cache that cannot be reached raises (Redis down, a timeout on the way).
CACHE_ERRORS = (RedisError, OSError)


def bump_catalogue_version():
    """After the current transaction commits (at once outside one), make every cached anonymous
    response and every ETag handed out stale. Before the commit a request could render the old
    rows again under the new version."""

    def bump():
        # ValueError: no version yet, and the next request starts a new one.
        with contextlib.suppress(ValueError):
            cache.incr(VERSION_KEY)

    transaction.on_commit(bump)


def catalogue_version():
    version = cache.get(VERSION_KEY)
    return _new_version() if version is None else version


def _new_version():
    # A new version never equals an earlier one: it starts from the clock in nanoseconds.
    cache.add(VERSION_KEY, time.time_ns(), timeout=settings.BAZAAR_HTTP_CACHE_VERSION_SECONDS)
    return cache.get(VERSION_KEY, 0)


def _enabled():
    return settings.BAZAAR_HTTP_CACHE_SECONDS > 0


def entry_seconds():
    """How long to keep something computed under the current catalogue version (a response, a
    count): until no request can ask for that version any more. 0 when the cache is off."""
    if not _enabled():
        return 0
    return max(settings.BAZAAR_HTTP_CACHE_SECONDS, settings.BAZAAR_HTTP_CACHE_VERSION_SECONDS)


def _anonymous(request):
    if request.method != "GET" or "HTTP_AUTHORIZATION" in request.META:
        return False
    user = getattr(request, "user", None)
    return user is not None and not user.is_authenticated


def _has_messages(request):
    # len() loads the waiting messages without marking them shown.
    return bool(len(messages.get_messages(request))) if hasattr(request, "_messages") else False


def _query(request):
    """The query in one canonical spelling: parameters sorted by name, each value's order kept,
    names and values encoded (joined unencoded, `?q%3Dwalnut%26sort=newest`, one parameter,
    spelt what `?q=walnut&sort=newest` does, and one page answered for the other)."""
    return urlencode(sorted(request.GET.lists()), doseq=True)


def _key(request, vary):
    parts = [
        request.scheme,
        request.get_host(),
        request.path,
        _query(request),
        getattr(request, "LANGUAGE_CODE", ""),
        *(request.headers.get(header, "") for header in vary if header != "Authorization"),
    ]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return f"http-cache:{digest}"


def _etag(key, version):
    return '"' + hashlib.sha256(f"{key}:{version}".encode()).hexdigest()[:32] + '"'


def _etag_matches(etag, request, *, exists=False):
    """If-None-Match by weak comparison, as RFC 9110 asks of a GET: W/"x" (a proxy that
    compressed the body weakens the tag) matches "x"; * matches only a page known to `exist`
    (an entry is at hand), never one that may yet be a 404."""
    if not etag:
        return False
    sent = parse_etags(request.headers.get("If-None-Match", ""))
    return (exists and "*" in sent) or etag in {tag.removeprefix("W/") for tag in sent}


def _public(response, etag, vary, version=None):
    response["ETag"] = etag
    # Which catalogue version a 200 made public was rendered under: FrontCacheMiddleware stores
    # the complete response for that version.
    response.http_cache_version = version
    patch_cache_control(response, public=True, max_age=settings.BAZAAR_HTTP_CACHE_SECONDS)
    patch_vary_headers(response, ("Cookie", *vary))
    return response


def _private(response, vary):
    add_never_cache_headers(response)  # no-cache, no-store, must-revalidate, private
    patch_vary_headers(response, ("Cookie", *vary))
    return response


def _storable(request, response):
    return (
        response.status_code == 200
        and not response.streaming
        and not response.cookies
        and not request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
        and not getattr(getattr(request, "session", None), "modified", False)
        and not _has_messages(request)
    )


def serve(request, render, *, vary=()):
    """The response `render()` makes, from the cache when the request is anonymous (see the
    module's docstring). `vary`: request headers the response depends on besides the URL."""
    if not _enabled():
        return render()
    if not _anonymous(request) or _has_messages(request):
        return _private(_rendered(render()), vary)
    key = _key(request, vary)
    # The catalogue's version and the entry in one round trip to the cache: an entry is one
    # URL's latest rendering and says which version it was rendered under.
    found = cache.get_many([VERSION_KEY, key])
    version = found.get(VERSION_KEY)
    if version is None:
        version = _new_version()
    etag = _etag(key, version)
    if _etag_matches(etag, request):
        return _public(HttpResponseNotModified(), etag, vary)
    entry = _current(found.get(key), version)
    if entry is None:
        rendering = f"{key}:{version}:rendering"
        if cache.add(rendering, 1, timeout=settings.BAZAAR_HTTP_CACHE_WAIT_SECONDS):
            try:
                return _render_and_store(request, render, key, version, etag, vary)
            finally:
                cache.delete(rendering)
        entry = _wait_for(key, version, rendering)
    if entry is None:
        # The request rendering it took too long, or made something not to be stored (it set a
        # cookie): this one renders its own.
        return _render_and_store(request, render, key, version, etag, vary)
    return _public(_replayed(entry), etag, vary, version)


def _replayed(entry):
    response = HttpResponse(entry["content"])
    for name, value in entry["headers"]:
        response[name] = value
    return response


# How often a request waiting for another's rendering looks for it.
_WAIT_POLL_SECONDS = 0.02


def _current(entry, version):
    return entry if entry is not None and entry.get("version") == version else None


def _wait_for(key, version, rendering):
    """The entry another request is rendering, once stored; None if it stopped rendering
    without storing one, or did not finish within BAZAAR_HTTP_CACHE_WAIT_SECONDS."""
    deadline = time.monotonic() + settings.BAZAAR_HTTP_CACHE_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(_WAIT_POLL_SECONDS)
        found = cache.get_many([key, rendering])
        entry = _current(found.get(key), version)
        if entry is not None:
            return entry
        if rendering not in found:
            return None
    return None


def _render_and_store(request, render, key, version, etag, vary):
    response = _rendered(render())
    if not _storable(request, response):
        return _private(response, vary)
    _store(key, version, response)
    return _public(response, etag, vary, version)


def _store(key, version, response):
    headers = [(name, value) for name, value in response.items() if name.lower() not in _NOT_STORED]
    cache.set(
        key,
        {"version": version, "content": response.content, "headers": headers},
        timeout=entry_seconds(),
    )


def _rendered(response):
    # A TemplateResponse (DRF's Response is one) renders after the view returns; the cache needs
    # its bytes now.
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    return response


def cache_public_page(view):
    """Decorator for a page view every anonymous visitor sees alike."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        return serve(request, lambda: view(request, *args, **kwargs))

    return wrapped


class PublicCacheMixin:
    """For a DRF viewset whose read actions every anonymous client sees alike. Decides before
    DRF authenticates, on the Django request, so a cached answer costs no query at all."""

    cached_actions = ("list", "retrieve")

    def dispatch(self, request, *args, **kwargs):
        action = getattr(self, "action_map", {}).get(request.method.lower())
        dispatch = super().dispatch
        if action not in self.cached_actions:
            return dispatch(request, *args, **kwargs)
        return serve(
            request,
            lambda: dispatch(request, *args, **kwargs),
            vary=("Accept", "Authorization"),
        )


# --- In front of the middleware -----------------------------------------------------------------

# What the middleware after FrontCacheMiddleware may make a response vary on, all in its key (the
# cookies by taking no request with a session or messages cookie, the only ones read).
_FRONT_VARY = {"accept", "accept-language", "authorization", "cookie"}
# What a 304 carries of the response it stands for (RFC 9110, 15.4.5).
_NOT_MODIFIED_HEADERS = ("Cache-Control", "Content-Location", "ETag", "Expires", "Vary")


class FrontCacheMiddleware:
    """Answers an anonymous GET with the complete response the view layer made public for the
    same request under the current catalogue version, before the rest of the middleware runs
    (see the module's docstring). Place it after SecurityMiddleware (which redirects plain HTTP
    first and adds its headers to every response) and before everything that reads the session
    or the signed-in person."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = _front_key(request)
        if key is not None and (entry := _front_lookup(key)) is not None:
            return _front_answer(request, entry)
        response = self.get_response(request)
        version = getattr(response, "http_cache_version", None)
        if version is not None and _front_storable(response):
            if key is None:
                # The first public response seen for this path: from now on its requests are
                # looked up (this one was not, and is stored by the next).
                _front_path_seen(request.path)
            else:
                _front_store(key, version, response)
        return response


def _front_key(request):
    """The entry's key if the request may be answered in front, else None."""
    if (
        not _enabled()
        or request.method != "GET"
        or request.path not in _front_paths
        or "HTTP_AUTHORIZATION" in request.META
    ):
        return None
    cookies = request.COOKIES
    if settings.SESSION_COOKIE_NAME in cookies or _MESSAGES_COOKIE in cookies:
        return None
    try:
        host = request.get_host()
    except DisallowedHost:
        return None  # the stack answers it with a 400
    parts = [
        _deployment(),
        request.scheme,
        host,
        request.path,
        _query(request),
        request.headers.get("Accept", ""),
        # The language LocaleMiddleware will choose, not the headers it chooses from: one entry
        # per language the site has, whatever the browsers send.
        translation.get_language_from_request(request),
    ]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return f"http-cache:front:{digest}"


# The paths this process has seen a response made public for: only their requests are looked up,
# so the rest (a login page, a health check, a listing's own page) cost the cache nothing. At most
# _FRONT_PATHS_MAX of them, the longest path _FRONT_PATH_MAX_LENGTH characters (about 2 MB in
# all); the one learnt first goes when another comes, so a flood of new paths (each listing's API
# page, /api/v1/listings/0001/ spelt with zeros) only makes the front step aside for a while.
_front_paths = {}  # path -> None, in the order learnt
_front_paths_lock = threading.Lock()  # learning is rare; looking up takes no lock
_FRONT_PATHS_MAX = 5_000
_FRONT_PATH_MAX_LENGTH = 200


def _front_path_seen(path):
    if len(path) > _FRONT_PATH_MAX_LENGTH or path in _front_paths:
        return
    with _front_paths_lock:
        while len(_front_paths) >= _FRONT_PATHS_MAX:
            del _front_paths[next(iter(_front_paths))]
        _front_paths[path] = None


@functools.cache
def _deployment():
    """What the middleware's own headers follow (the settings they are made from): a deploy that
    changes them is not answered with what the one before stored."""
    shaping = [
        settings.MIDDLEWARE,
        getattr(settings, "CONTENT_SECURITY_POLICY", None),
        getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None),
        settings.X_FRAME_OPTIONS,
        settings.LANGUAGES,
        settings.BAZAAR_HTTP_CACHE_SECONDS,
    ]
    return hashlib.sha256(repr(shaping).encode()).hexdigest()[:16]


def _front_lookup(key):
    """The current entry under `key`, or None; a cache it cannot reach is None too (logged)."""
    try:
        found = cache.get_many([VERSION_KEY, key])
    except CACHE_ERRORS as exc:
        logger.warning("The response cache is unreachable: %s", exc)
        return None
    return _current(found.get(key), found.get(VERSION_KEY))


def _front_store(key, version, response):
    try:
        _store(key, version, response)
    except CACHE_ERRORS as exc:
        logger.warning("The response cache is unreachable: %s", exc)


def _front_storable(response):
    vary = {value.strip().lower() for value in response.get("Vary", "").split(",") if value}
    return (
        response.status_code == 200
        and not response.streaming
        and not response.cookies  # a middleware after this one set one for this visitor
        and vary <= _FRONT_VARY
    )


def _front_answer(request, entry):
    response = _replayed(entry)
    response["Content-Length"] = str(len(response.content))  # CommonMiddleware's, below
    if _etag_matches(response.get("ETag"), request, exists=True):
        not_modified = HttpResponseNotModified()
        for name in _NOT_MODIFIED_HEADERS:
            if name in response:
                not_modified[name] = response[name]
        return not_modified
    return response
