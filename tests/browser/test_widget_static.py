"""The widget in real Chromium against plain static files (no gateway): it loads, renders
untrusted text safely, and tells the customer when it cannot reach the server."""

from __future__ import annotations

import json

from playwright.sync_api import expect

HOSTILE = [
    '<img src=x onerror="window.__pwned = 1">',
    "<script>window.__pwned = 2</script>",
    "click javascript:window.__pwned=3 now",
    "see https://evil.example.net/login and https://shop.example.com@evil.example.net/x",
    'fake <a href="https://evil.example.net">https://shop.example.com</a>',
]


def _render(page, text: str, allow: list[str]) -> dict:  # type: ignore[no-untyped-def]
    return page.evaluate(
        """async ([text, allow]) => {
            const { appendSafeText, normaliseAllowList } = await import('/static/widget/render.js');
            const box = document.createElement('div');
            document.body.append(box);
            appendSafeText(box, text, normaliseAllowList(allow));
            const out = {
              text: box.textContent,
              elements: [...box.querySelectorAll('*')].map(e => e.tagName.toLowerCase()),
              links: [...box.querySelectorAll('a')]
                .map(a => ({href: a.href, text: a.textContent, rel: a.rel})),
            };
            box.remove();
            return out;
        }""",
        [text, allow],
    )


def test_hostile_text_is_shown_verbatim_and_never_executed(new_page, static_site):  # type: ignore[no-untyped-def]
    page = new_page()
    page.goto(f"{static_site}/static/shop/index.html")
    for text in HOSTILE:
        result = _render(page, text, ["shop.example.com"])
        assert result["text"] == text, "every character of the message must be shown as written"
        assert set(result["elements"]) <= {"a"}, f"markup became elements: {result}"
        assert all(
            link["href"].startswith("https://shop.example.com/") for link in result["links"]
        ), result
    # The one allow-listed URL inside the fake anchor is linked by itself; the markup stays text.
    assert _render(page, HOSTILE[-1], ["shop.example.com"])["links"] == [
        {
            "href": "https://shop.example.com/",
            "text": "https://shop.example.com",
            "rel": "noopener noreferrer nofollow",
        }
    ]
    page.wait_for_timeout(200)  # let an injected onerror handler run, if one had been created
    assert page.evaluate("window.__pwned") is None


def test_only_allow_listed_hosts_become_links(new_page, static_site):  # type: ignore[no-untyped-def]
    page = new_page()
    page.goto(f"{static_site}/static/shop/index.html")
    text = (
        "Track it at https://shop.example.com/track?o=10000104. "
        "Or https://help.shop.example.com/faq, "
        "not https://shop.example.com.evil.net/ nor http://evil.net/shop.example.com"
    )
    result = _render(page, text, ["shop.example.com"])
    assert result["text"] == text
    assert [link["href"] for link in result["links"]] == [
        "https://shop.example.com/track?o=10000104"
    ]
    assert result["links"][0]["text"] == "https://shop.example.com/track?o=10000104"
    assert "noopener" in result["links"][0]["rel"]
    wildcard = _render(page, text, ["*.shop.example.com"])
    assert [link["href"] for link in wildcard["links"]] == [
        "https://shop.example.com/track?o=10000104",
        "https://help.shop.example.com/faq",
    ]


def test_shop_page_shows_widget_and_reports_unreachable_gateway(new_page, static_site, screenshots):  # type: ignore[no-untyped-def]
    page = new_page()
    page.goto(f"{static_site}/static/shop/index.html")
    expect(
        page.get_by_role("heading", name="Made for slow mornings and long walks.")
    ).to_be_visible()
    launcher = page.get_by_role("button", name="Open chat")
    expect(launcher).to_be_visible()
    launcher.click()
    panel = page.get_by_role("dialog", name="Northwind help")
    expect(panel).to_be_visible()
    expect(panel.get_by_text("I'm the shop assistant")).to_be_visible()
    expect(panel.get_by_role("button", name="Talk to a person")).to_be_visible()
    # Plain files answer POST /api/chat/sessions with an error: the widget says it is reconnecting
    # and keeps what the customer writes.
    expect(panel.get_by_text("Reconnecting")).to_be_visible(timeout=10_000)
    panel.get_by_role("textbox", name="Your message").fill("hello, anyone there?")
    panel.get_by_role("button", name="Send").click()
    expect(panel.locator(".crm-pending")).to_contain_text("hello, anyone there?")
    stored = page.evaluate("Object.entries(localStorage).map(([k, v]) => [k, JSON.parse(v)])")
    outbox = [item["text"] for _, value in stored for item in value.get("outbox", [])]
    assert outbox == ["hello, anyone there?"], json.dumps(stored)
    page.screenshot(path=str(screenshots / "widget-offline.png"))
    assert page.errors == []


def test_one_script_tag_embeds_the_widget_with_its_options(new_page, static_site):  # type: ignore[no-untyped-def]
    page = new_page((420, 760))  # a phone: the open chat takes the whole screen
    html = f"""<!doctype html><title>Another shop</title><h1>Another shop</h1>
    <script type="module" src="{static_site}/static/widget/widget.js" data-title="Help desk"
            data-open="true" data-allowed-hosts="another.example"
            data-shop-token="not-a-real-token"></script>"""
    page.route(
        f"{static_site}/embed.html",
        lambda route: route.fulfill(body=html, content_type="text/html"),
    )
    page.goto(f"{static_site}/embed.html")
    panel = page.get_by_role("dialog", name="Help desk")
    expect(panel).to_be_visible()
    # Measure once the opening animation (a short scale-in) has finished.
    panel.evaluate("el => Promise.all(el.getAnimations().map(a => a.finished))")
    box = panel.bounding_box()
    assert box is not None and box["width"] == 420
    assert page.evaluate("document.querySelector('[data-crmbot-chat]').chatWidget.allowList") == [
        "another.example"
    ]
    assert page.errors == []
