"""Debian's Chromium driven by Playwright, as every browser test uses it."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_MISSING = shutil.which(CHROMIUM) is None


@contextmanager
def chromium_page() -> Iterator:
    """A fresh page of a headless Chromium; the browser closes with the block."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


def password_login(page, base_url: str, email: str, password: str, *, path: str = "/accounts/login/") -> None:
    """Fill and send the login form (``/admin/login/`` hands over to it)."""
    page.goto(f"{base_url}{path}")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
