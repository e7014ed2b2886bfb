"""The dashboard in Debian's chromium against a real ``picloud serve``: its
files, the key, reconnecting, keys held to some topics, dark mode. The views
have modules of their own: test_dashboard_live.py (tail, publish form, hub),
_devices, _readings (overview and charts), _topics, _layout (phone, tablet,
size with many events and devices)."""

from __future__ import annotations

import hashlib
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from picloud.server.web import STATIC_DIR
from tests.support.browser import browser_fixture, http_publish  # noqa: F401 (fixtures)
from tests.support.dashboard import KEY, dash_hub_fixture, log_in, shared_hub_fixture, show, tab_fixture  # noqa: F401

# The page's background, 0 (black) to 1 (white), by WCAG's relative luminance.
LUMINANCE = """() => {
    const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).slice(0, 3)
        .map((c) => { c = c / 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}"""


def test_routes_serve_the_page_its_scripts_and_uplot_without_key(shared_hub) -> None:
    page_scripts = re.findall(r'<script src="([^"]+)"', (STATIC_DIR / "dashboard.html").read_text())
    assert "static/vendor/uPlot.iife.min.js" in page_scripts
    paths = [("/", "text/html"), ("/dashboard", "text/html"), ("/picloud.js", "javascript"),
             ("/static/dashboard.css", "text/css"), ("/static/vendor/uPlot.min.css", "text/css")]
    paths += [("/" + src, "javascript") for src in page_scripts if src != "picloud.js"]
    for path, kind in paths:
        with urllib.request.urlopen(shared_hub.url + path, timeout=5) as response:
            assert kind in response.headers["Content-Type"], path
            if kind == "text/html":
                assert "script-src 'self';" in response.headers["Content-Security-Policy"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(shared_hub.url + "/stats", timeout=5)
    assert refused.value.code == 401


def test_uplot_is_the_pinned_version_with_its_licence_and_nothing_comes_from_elsewhere() -> None:
    vendor = STATIC_DIR / "vendor"
    pin = (vendor / "uplot.pin").read_text().splitlines()
    assert "version 1.6.32" in pin
    assert any(line.startswith("integrity sha512-") for line in pin)
    hashes = {line.split()[2]: line.split()[1] for line in pin if line.startswith("sha256 ")}
    assert set(hashes) == {"uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"}
    for name, digest in hashes.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, f"{name} differs from its pin"
    assert "The MIT License" in (vendor / "uPlot.LICENSE").read_text()
    # The page's files name no other origin: scripts, styles and fetches are the hub's own.
    for path in [STATIC_DIR / "dashboard.html", *STATIC_DIR.glob("dashboard*.css"), *STATIC_DIR.glob("dashboard/*.js")]:
        assert not re.search(r"(src|href)=\"(https?:)?//|url\((https?:)?//|fetch\(\"http", path.read_text()), path


def test_the_key_is_asked_once_and_kept_for_the_tab(tab, shared_hub) -> None:
    page = tab()
    log_in(page, shared_hub.url)
    assert KEY not in page.url
    expect(page.locator("#tabs a[aria-current=page]")).to_have_text("Overview")
    show(page, "devices")
    expect(page.locator("#devices tbody tr.own")).to_contain_text("online")
    page.reload()
    expect(page.locator("#status")).to_have_text("live")
    expect(page.locator("#login")).to_be_hidden()
    # The view shown is in the address, so a reload stays on it.
    expect(page.locator("#view-devices")).to_be_visible()
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('picloud.apiKey')") is None


def test_wrong_key_is_refused(tab, shared_hub) -> None:
    page = tab()
    page.goto(shared_hub.url + "/dashboard")
    page.fill("#api-key", "not-the-key")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("Wrong key")
    expect(page.locator("#status")).to_have_text("wrong key")
    expect(page.locator("#main")).to_be_hidden()
    expect(page.locator("#tabs")).to_be_hidden()
    assert page.evaluate("() => sessionStorage.getItem('picloud.apiKey')") is None


def test_unreachable_hub_is_shown_and_reconnected(tab, dash_hub, hub_process) -> None:
    page = tab()
    log_in(page, dash_hub.url, view="devices")
    dash_hub.stop()
    expect(page.locator("#status")).to_contain_text("hub unreachable, retrying in")
    expect(page.locator("#main")).to_have_class("stale")
    hub_process("--api-key", KEY, "--info-interval", "0.2", "--port", str(dash_hub.port))
    expect(page.locator("#status")).to_have_text("live", timeout=15_000)
    expect(page.locator("#main")).not_to_have_class("stale")
    # Presence comes again from the new hub: the page is back online in it.
    expect(page.locator("#devices tbody tr.own")).to_contain_text("online", timeout=15_000)


def test_hub_without_auth_needs_no_key(tab, hub_process) -> None:
    open_hub = hub_process("--no-auth", "--info-interval", "0.2")
    page = tab()
    page.goto(open_hub.url + "/")
    expect(page.locator("#status")).to_have_text("live")
    expect(page.locator("#login")).to_be_hidden()


def test_a_key_held_to_some_topics_sees_what_it_may(tab, hub_process, tmp_path: Path) -> None:
    tablet = "Zr4p0Tf2Yq5Kx8Nn"
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY} admin\n{tablet} subscribe home/# $SYS/clients/+\n")
    hub = hub_process("--keys-file", str(keys), "--info-interval", "0.2", "--store-interval", "0.1")
    for event in ("home/temp", "door/state"):
        assert http_publish(hub.url, KEY, event, 1, retain=True) == 201
    page = tab()
    page.goto(hub.url + "/#hub")
    page.fill("#api-key", tablet)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#status")).to_have_text("live, limited key")
    expect(page.locator("#limited")).to_contain_text("This key may see only home/#, $SYS/clients/+")
    # What shows every event is hidden (the hub view is not for it); what the key may read is shown.
    expect(page.locator("#tabs a[href='#hub']")).to_be_hidden()
    expect(page.locator("#view-overview")).to_be_visible()
    expect(page.locator("#cards .card[data-event='home/temp']")).to_be_visible()
    expect(page.locator("#cards .card[data-event='door/state']")).to_have_count(0)
    show(page, "topics")
    expect(page.locator("#retained tbody tr", has_text="home/temp")).to_be_visible()
    expect(page.locator("#retained tbody tr", has_text="door/state")).to_have_count(0)
    show(page, "devices")
    expect(page.locator("#devices tbody tr.own")).to_contain_text("online")
    expect(page.locator("button.forget")).to_have_count(0)
    show(page, "live")
    page.fill("#watch-event", "door/#")
    page.click("#watch-form button")
    expect(page.locator("#watch-error")).to_contain_text("refused: this key may not subscribe to 'door/#'")


def test_dark_mode_follows_the_system_and_a_toggle_that_is_remembered(tab, shared_hub) -> None:
    for system in ("dark", "light"):
        page = tab(color_scheme=system)
        log_in(page, shared_hub.url)
        dark = page.evaluate(LUMINANCE) < 0.1
        assert dark == (system == "dark")
        expect(page.locator("#theme")).to_have_attribute("aria-pressed", "true" if dark else "false")
        page.click("#theme")
        assert (page.evaluate(LUMINANCE) < 0.1) != dark
        page.reload()  # remembered, and applied before the first paint (dashboard/theme.js in the head)
        expect(page.locator("#status")).to_have_text("live")
        assert (page.evaluate(LUMINANCE) < 0.1) != dark
        # Back to the system's choice: nothing is kept.
        page.click("#theme")
        assert (page.evaluate(LUMINANCE) < 0.1) == dark
        assert page.evaluate("() => localStorage.getItem('picloud.theme')") is None
