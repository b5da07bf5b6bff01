"""/docs and /redoc work on a machine that reaches no CDN: their pages reference only this server's files, which
it serves."""

from __future__ import annotations

import re

import httpx


def test_docs_and_redoc_reference_only_local_assets_that_the_api_serves(live_api: str) -> None:
    with httpx.Client(base_url=live_api, timeout=10) as client:
        for page in ("/docs", "/redoc"):
            response = client.get(page)
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
            urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url:\s*["']([^"']+)["']""", response.text)
            found = [a or b for a, b in urls]
            assert found, response.text[:500]
            assert all(u.startswith("/") and not u.startswith("//") for u in found), found
            assert "cdn.jsdelivr" not in response.text and "fonts.googleapis" not in response.text
            for url in found:
                asset = client.get(url)
                assert asset.status_code == 200, url
        kinds = {path: client.get(f"/docs-assets/{path}").headers["content-type"]
                 for path in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")}
        assert kinds["swagger-ui.css"].startswith("text/css")
        assert all("javascript" in kinds[p] for p in ("swagger-ui-bundle.js", "redoc.standalone.js"))
        assert "/docs-assets" not in client.get("/openapi.json").text  # the assets are not API operations
