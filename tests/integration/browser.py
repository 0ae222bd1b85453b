"""Headless Debian chromium driven by Playwright, for the console's browser tests. Nothing is
downloaded: the browser is the system's (`make browser` installs it), and it is started with every
background fetch of its own turned off."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]  # fmt: skip
# Where screenshots go (git-ignored): look at them after a run.
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "console"


@contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip(f"{CHROMIUM} is not installed (`make browser` installs Debian's chromium as root)")
    # Playwright gives each launch a fresh, temporary profile (--user-data-dir) of its own.
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
