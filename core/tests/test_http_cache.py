"""The response cache's own behaviour under concurrent misses (core/http_cache.py): one request
renders a missing entry while the others asking for it wait for that one. What is cached and for
whom is tested through the catalogue's pages (marketplace/tests/test_http_cache.py)."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.test import RequestFactory

from core import http_cache

VISITORS = 8


@pytest.fixture(autouse=True)
def _cache_on(settings):
    settings.BAZAAR_HTTP_CACHE_SECONDS = 60
    settings.BAZAAR_HTTP_CACHE_WAIT_SECONDS = 5


@pytest.fixture
def path():
    # Its own URL, so no other test's (or xdist worker's) entry can answer.
    return f"/listings/?q={uuid.uuid4().hex}"


def _visit(path, render):
    request = RequestFactory().get(path)
    request.user = AnonymousUser()
    return http_cache.serve(request, render)


def _visitors_at_once(path, render):
    with ThreadPoolExecutor(VISITORS) as pool:
        return list(pool.map(lambda _: _visit(path, render), range(VISITORS)))


class SlowRender:
    def __init__(self, response=lambda: HttpResponse(b"the page"), seconds=0.3):
        self.calls = 0
        self.lock = threading.Lock()
        self.response = response
        self.seconds = seconds

    def __call__(self):
        with self.lock:
            self.calls += 1
        time.sleep(self.seconds)
        return self.response()


def test_visitors_missing_the_same_entry_at_once_render_it_once(path):
    render = SlowRender()

    responses = _visitors_at_once(path, render)

    assert render.calls == 1
    assert [response.status_code for response in responses] == [200] * VISITORS
    assert {response.content for response in responses} == {b"the page"}
    assert len({response["ETag"] for response in responses}) == 1


def test_when_the_first_makes_nothing_to_store_the_others_render_their_own_without_waiting_out(
    path,
):
    def with_cookie():
        response = HttpResponse(b"a page for one visitor")
        response.set_cookie("csrftoken", "x")
        return response

    render = SlowRender(with_cookie, seconds=0.1)
    started = time.monotonic()

    responses = _visitors_at_once(path, render)

    assert render.calls == VISITORS
    assert all("no-store" in response["Cache-Control"] for response in responses)
    # They stopped waiting when the first finished, not after BAZAAR_HTTP_CACHE_WAIT_SECONDS.
    assert time.monotonic() - started < 3


def test_a_render_that_fails_leaves_the_entry_to_the_next_visitor(path):
    def failing():
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        _visit(path, failing)

    render = SlowRender(seconds=0)
    started = time.monotonic()
    assert _visit(path, render).content == b"the page"
    assert render.calls == 1
    assert time.monotonic() - started < 1


def test_a_visitor_waits_no_longer_than_the_setting_for_a_render_that_hangs(path, settings):
    settings.BAZAAR_HTTP_CACHE_WAIT_SECONDS = 1
    hanging = SlowRender(seconds=2.5)
    first = threading.Thread(target=_visit, args=(path, hanging))
    first.start()
    time.sleep(0.2)

    started = time.monotonic()
    own = SlowRender(seconds=0)
    response = _visit(path, own)
    waited = time.monotonic() - started
    first.join()

    assert response.content == b"the page"
    assert own.calls == 1
    assert 0.7 < waited < 2.4


# --- FrontCacheMiddleware: what it keeps -------------------------------------------------------


class Stack:
    """What the middleware after FrontCacheMiddleware and the view answer, counted."""

    def __init__(self, make):
        self.calls = 0
        self.make = make

    def __call__(self, request):
        self.calls += 1
        return self.make()


def _public_page(**headers):
    def make():
        response = HttpResponse(b"the page", headers={"ETag": '"v1"', **headers})
        try:
            response.http_cache_version = http_cache.catalogue_version()
        except http_cache.CACHE_ERRORS:
            response.http_cache_version = None  # nothing to store it under
        return response

    return make


def _front(stack, path, **headers):
    return http_cache.FrontCacheMiddleware(stack)(RequestFactory().get(path, headers=headers))


@pytest.fixture(autouse=True)
def _front_paths_unseen(monkeypatch):
    monkeypatch.setattr(http_cache, "_front_paths", {})


def test_the_front_keeps_what_the_view_made_public(path):
    stack = Stack(_public_page())

    _front(stack, path)  # the path is learned
    _front(stack, path)  # looked up, stored
    again = _front(stack, path)

    assert stack.calls == 2
    assert again.content == b"the page" and again["Content-Length"] == "8"


def test_an_answer_a_later_middleware_set_a_cookie_on_is_not_kept(path):
    def with_cookie():
        response = _public_page()()
        response.set_cookie("csrftoken", "one visitor's")
        return response

    stack = Stack(with_cookie)

    for _ in range(3):
        _front(stack, path)

    assert stack.calls == 3


def test_an_answer_varying_on_a_header_the_key_lacks_is_not_kept(path):
    stack = Stack(_public_page(Vary="Cookie, User-Agent"))

    for _ in range(3):
        _front(stack, path)

    assert stack.calls == 3


def test_an_answer_the_view_did_not_make_public_is_not_kept(path):
    stack = Stack(lambda: HttpResponse(b"someone's page"))

    for _ in range(3):
        _front(stack, path)

    assert stack.calls == 3


@pytest.mark.django_db
def test_an_entry_of_an_earlier_catalogue_version_is_not_answered(
    path, django_capture_on_commit_callbacks
):
    stack = Stack(_public_page())
    _front(stack, path)
    _front(stack, path)

    with django_capture_on_commit_callbacks(execute=True):
        http_cache.bump_catalogue_version()
    _front(stack, path)

    assert stack.calls == 3


def test_an_unreachable_cache_lets_the_request_through(path, settings):
    stack = Stack(_public_page())
    for _ in range(2):
        _front(stack, path)
    settings.CACHES = {
        "default": {"BACKEND": "core.cache.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }

    response = _front(stack, path)

    assert response.status_code == 200 and stack.calls == 3


def test_a_deploy_that_changes_the_middlewares_headers_is_not_answered_from_before(path, settings):
    stack = Stack(_public_page())
    for _ in range(3):
        _front(stack, path)
    assert stack.calls == 2

    settings.X_FRAME_OPTIONS = "SAMEORIGIN"
    http_cache._deployment.cache_clear()  # a new process
    _front(stack, path)

    assert stack.calls == 3
