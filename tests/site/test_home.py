"""The landing page: public, and every link on it leads somewhere."""

from __future__ import annotations

import re

from django.urls import resolve


def test_home_page_answers_without_login_and_every_link_resolves(client):
    response = client.get("/")
    assert response.status_code == 200
    links = re.findall(r'href="(/[^"]*)"', response.content.decode())
    wanted = {"/api/v1/current/", "/api/v1/history/locations/today/", "/api/v1/usage/search/", "/admin/ops/"}
    assert wanted <= set(links)
    for link in links:
        if not link.startswith("/static/"):  # the admin's style sheets, served by staticfiles
            resolve(link.split("?")[0])  # raises Resolver404 for a dead link
