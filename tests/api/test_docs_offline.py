"""/docs and /redoc work on a network with no way out: every asset comes from the service."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

BASE = "http://cit.test"
# What a page may load, by how its address ends, and the content type it must come with.
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


class _References(HTMLParser):
    """Every address an HTML page refers to: attributes, and URLs in inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if not value or name not in ("src", "href", "spec-url", "data", "action", "content"):
                continue
            if name != "content" or "/" in value:  # a meta tag's content is rarely a URL
                self.urls.append(value)
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            # Swagger UI's configuration: url: '/openapi.json', and any other string URL.
            self.urls += re.findall(r"""url['"]?\s*:\s*['"]([^'"]+)['"]""", data)
            self.urls += re.findall(r"""['"]((?:https?:)?//[^'"]+)['"]""", data)


async def _references(client: httpx.AsyncClient, page: str) -> list[str]:
    answer = await client.get(page)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    parser = _References()
    parser.feed(answer.text)
    assert parser.urls, "the page loads something"
    # No address with a host, anywhere in the page, even outside attributes.
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", answer.text, re.IGNORECASE)
    return parser.urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_pages_load_nothing_from_outside_the_service(
    client: httpx.AsyncClient, page: str
) -> None:
    urls = await _references(client, page)
    for url in urls:
        absolute = urlsplit(urljoin(BASE + page, url))
        assert (absolute.scheme, absolute.netloc) == ("http", "cit.test"), url
        asset = await client.get(absolute.path)
        assert asset.status_code == 200, url
        suffix = next(s for s in CONTENT_TYPES if absolute.path.endswith(s))
        content_type = asset.headers["content-type"].split(";")[0]
        assert content_type in CONTENT_TYPES[suffix], (url, content_type)
        assert asset.content, url


async def test_swagger_ui_and_redoc_get_their_scripts_and_a_favicon_from_the_service(
    client: httpx.AsyncClient,
) -> None:
    docs = await _references(client, "/docs")
    redoc = await _references(client, "/redoc")
    assert any(u.endswith("swagger-ui-bundle.js") for u in docs)
    assert any(u.endswith("swagger-ui.css") for u in docs)
    assert any(u.endswith("redoc.standalone.js") for u in redoc)
    for urls in (docs, redoc):
        assert "/openapi.json" in urls
        assert any(u.endswith(".png") for u in urls), "a favicon of the service's own"
    # The bundles are the real ones, not placeholders.
    bundle = await client.get(next(u for u in docs if u.endswith("swagger-ui-bundle.js")))
    assert b"SwaggerUIBundle" in bundle.content
    standalone = await client.get(next(u for u in redoc if u.endswith("redoc.standalone.js")))
    assert b"Redoc" in standalone.content


async def test_the_browser_favicon_is_served(client: httpx.AsyncClient) -> None:
    icon = await client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/png"
    assert icon.content.startswith(b"\x89PNG")


async def test_the_docs_are_not_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p in ("/docs", "/redoc", "/favicon.ico")]
    assert not [p for p in paths if p.startswith("/docs-assets")]
