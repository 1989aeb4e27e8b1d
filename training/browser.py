"""Headless Chromium, driven through Selenium and Debian's chromedriver, for the browser tests and `benchmarks.edge`.

    apt-get install -y chromium chromium-driver    # the browser and its driver (scripts/setup_browser.sh)

Every run gets a new empty profile and reaches nothing but 127.0.0.1: the host resolver maps every other name to
nothing, and background networking, component updates and sync are off, so a page that works here works offline.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL_HINT = "apt-get install -y chromium chromium-driver (or scripts/setup_browser.sh)"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--enable-precise-memory-info",
    "--window-size=1000,800",
]


def chromium_problem() -> str | None:
    """Why Chromium cannot be driven here (None: it can)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).is_file()]
    if missing:
        return f"{' and '.join(missing)} not found: {INSTALL_HINT}"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is missing: pip install -e '.[dev]'"
    return None


class Browser:
    """A headless Chromium with a fresh profile; `close()` ends it and removes the profile."""

    def __init__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        problem = chromium_problem()
        if problem:
            raise RuntimeError(problem)
        self.profile = Path(tempfile.mkdtemp(prefix="kr-electra-kd-chromium-"))
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in [*FLAGS, f"--user-data-dir={self.profile}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # An explicit driver path: Selenium Manager then downloads nothing.
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        self.driver.set_script_timeout(600)
        self.version = self.driver.capabilities.get("browserVersion", "unknown")

    def open_page(self, url: str, timeout: float = 300) -> dict:
        """Navigate to the demo page and wait until it has shown its first result (or an error); returns its state
        and the milliseconds from navigation to the first label."""
        started = time.perf_counter()
        self.driver.get(url)
        deadline = started + timeout
        while time.perf_counter() < deadline:
            state = self.driver.execute_script("return window.demo && window.demo.state")
            if state in ("ready", "error"):
                break
            time.sleep(0.05)
        else:
            raise TimeoutError(f"{url} did not finish loading in {timeout:.0f} s")
        wall_ms = (time.perf_counter() - started) * 1000
        result = self.driver.execute_script(
            "const d = window.demo; const nav = performance.timeOrigin;"
            "return {state: d.state, error: d.error || null, first_label_ms: d.firstLabelMs || null, "
            "load_ms: d.loadMs || null, isolated: self.crossOriginIsolated, status: document.getElementById('status').textContent};"
        )
        result["wall_ms"] = wall_ms
        return result

    def call(self, script: str, *args):
        """Run `script` (the body of an async function of `args`) in the page; returns its JSON-able result."""
        wrapped = (
            "const done = arguments[arguments.length - 1];"
            f"(async (args) => {{ {script} }})(Array.from(arguments).slice(0, -1))"
            ".then((r) => done(JSON.stringify({ok: r})), (e) => done(JSON.stringify({error: String(e && e.stack || e)})));"
        )
        reply = json.loads(self.driver.execute_async_script(wrapped, *args))
        if "error" in reply:
            raise RuntimeError(f"in the page: {reply['error']}")
        return reply.get("ok")

    def peak_memory_bytes(self) -> int | None:
        """The JS heap of the page (performance.memory; CDP's heap usage as fall-back)."""
        used = self.driver.execute_script("return performance.memory ? performance.memory.usedJSHeapSize : null")
        metrics = self.driver.execute_cdp_cmd("Performance.getMetrics", {}) if used is None else None
        if metrics:
            values = {m["name"]: m["value"] for m in metrics["metrics"]}
            used = values.get("JSHeapUsedSize")
        return int(used) if used is not None else None

    def console(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser")]

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
