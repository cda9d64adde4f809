"""What a newcomer meets at the edges of the product: refusals and wrong addresses in the
app's own layout with a way back, the navigation to every page, and the API docs page."""
from __future__ import annotations

import pytest
from django.test import Client

from tests.support.factories import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


def _client(user):
    client = Client()
    assert client.login(username=user.username, password=DEMO_PASSWORD)
    return client


def test_a_reviewer_on_a_manager_page_gets_the_403_page_with_the_layout(reviewer):
    response = _client(reviewer).get("/audit/")
    assert response.status_code == 403
    page = response.content.decode()
    assert 'class="topbar"' in page and 'aria-label="Main"' in page
    assert 'href="/queue/"' in page and "Back to the queue" in page
    assert "not allowed" in page
    assert "403.html" in [t.name for t in response.templates]


def test_a_manager_page_refusal_names_no_data(reviewer):
    page = _client(reviewer).get("/webhooks/").content.decode()
    assert "Back to the queue" in page and "<table" not in page


def test_an_unknown_address_gets_the_404_page_with_the_layout(reviewer):
    response = _client(reviewer).get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert 'class="topbar"' in page and 'aria-label="Main"' in page
    assert "Back to the queue" in page and "nothing at this address" in page


def test_an_unknown_case_gets_the_404_page(reviewer):
    response = _client(reviewer).get("/cases/987654321/")
    assert response.status_code == 404
    assert "nothing at this address" in response.content.decode()


def test_someone_without_a_role_is_refused_with_a_way_back_that_is_not_the_queue(outsider):
    response = _client(outsider).get("/queue/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "Back to the workbench" in page and "Back to the queue" not in page
    assert outsider.username in page


def test_managers_see_the_webhooks_link_and_reviewers_do_not(manager, reviewer):
    manager_page = _client(manager).get("/dashboard/").content.decode()
    assert 'href="/webhooks/">Webhooks</a>' in manager_page
    reviewer_page = _client(reviewer).get("/queue/").content.decode()
    assert 'href="/webhooks/"' not in reviewer_page


def test_the_api_docs_page_links_back_to_the_workbench_and_loads_offline(reviewer):
    response = _client(reviewer).get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'href="/"' in page and "Back to the workbench" in page
    assert 'id="swagger-ui"' in page
    # The bundle is served from our own static files, never a CDN.
    assert "/static/drf_spectacular_sidecar/" in page
    assert "cdn." not in page and "unpkg" not in page
