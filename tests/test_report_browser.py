"""The demo's report.html in a real browser: headless Chromium, driven over the DevTools protocol.

The browser talks over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out, JSON
messages ending in NUL), so no port is opened and no client library is needed;
it is only ever pointed at a file:// URL. The report comes from the demo's
plan (``configs/demo.yaml``: its paradigms, grid and hardware) with fabricated
measurements, through the real ``collect``, ``figures`` and ``report``
commands: seconds instead of the demo's minutes of training, and the same page.

Chromium missing: the test skips, saying why, except under CI (``CI=true``),
where it fails (``make test`` installs Debian's ``chromium`` when run as root).

``python tests/test_report_browser.py REPORT.html OUT.png`` takes the first
screen of any report (docs/report-first-screen.png is made so).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

#: The window a new reader opens the report in (CSS pixels).
WINDOW_W, WINDOW_H = 1280, 800
PNG = b"\x89PNG\r\n\x1a\n"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
         f"--window-size={WINDOW_W},{WINDOW_H}", "--remote-debugging-pipe")
CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")

# Waits for every image (loaded or failed), then measures what a reader sees.
_INSPECT = """(async () => {
  if (document.readyState !== 'complete') await new Promise(r => addEventListener('load', r));
  const images = [...document.images];
  await Promise.all(images.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const top = el => el ? el.getBoundingClientRect().top : null;
  return {
    url: location.href, scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
    innerHeight: window.innerHeight, textLength: document.body.innerText.trim().length,
    images: images.map(i => ({src: i.getAttribute('src').slice(0, 80), ok: i.complete && i.naturalWidth > 0})),
    findingsTop: top(document.querySelector('section.findings')),
    findingsItems: document.querySelectorAll('section.findings dd').length,
    heroTops: [...document.querySelectorAll('.findings-figures img')].map(top),
    details: document.querySelectorAll('details').length,
    scripts: document.querySelectorAll('script, iframe, link[rel=stylesheet]').length,
  };
})()"""


def find_chromium() -> str | None:
    """The Chromium binary: ``EB_CHROMIUM``, else the first of :data:`CANDIDATES` on this machine."""
    if os.environ.get("EB_CHROMIUM"):
        return os.environ["EB_CHROMIUM"]
    return next((found for c in CANDIDATES if (found := shutil.which(c))), None)


def chromium_or_skip() -> str:
    """The binary, else skip with the reason; under CI a missing browser is a failure."""
    binary = find_chromium()
    if binary is None:
        why = ("no Chromium on this machine (looked for EB_CHROMIUM, " + ", ".join(CANDIDATES) + "); `make test` "
               "installs Debian's `chromium` when run as root, or run `apt-get install -y chromium`")
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}. CI=true: the browser test must run, not skip")
        pytest.skip(why)
    return binary


class Browser:
    """One headless Chromium and one page, over the DevTools pipe; every wait is bounded."""

    def __init__(self, binary: str, profile_dir: Path, log_path: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def onto_fd_3_and_4() -> None:  # runs in the child, before exec
            a = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._log = log_path.open("wb")
        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     preexec_fn=onto_fd_3_and_4, close_fds=False, start_new_session=True)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer, self._next_id, self.events, self.session = b"", 0, [], None
        self.log_path = log_path

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError(f"no answer from Chromium in time; the end of its log:\n{self.log_tail()}")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe; the end of {self.log_path}:\n{self.log_tail()}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def log_tail(self, lines: int = 15) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def send(self, method: str, params: dict[str, Any] | None = None, timeout_s: float = 30) -> dict[str, Any]:
        """Send one command (to the page once attached) and return its result; events are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str, timeout_s: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            for e in self.events:
                if e.get("method") == event:
                    self.events.remove(e)
                    return e
            self.events.append(self._message(deadline))

    def open(self, url: str, timeout_s: float = 60) -> None:
        """Open a page, fix the window size, load ``url`` and wait for its load event."""
        assert url.startswith("file://"), "the browser is only pointed at local files"
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page.enable", "Network.enable", "Runtime.enable"):
            self.send(domain)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": WINDOW_W, "height": WINDOW_H, "deviceScaleFactor": 1, "mobile": False})
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired", timeout_s)

    def evaluate(self, expression: str, timeout_s: float = 30) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, timeout_s)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"]["value"]

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def pdf(self) -> bytes:
        return base64.b64decode(self.send("Page.printToPDF", {"printBackground": True}, timeout_s=60)["data"])

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.send("Browser.close", timeout_s=5)
                self.proc.wait(timeout=10)
        except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the browser's own process group (start_new_session)
                self.proc.wait(timeout=10)
            os.close(self._to_browser)
            os.close(self._from_browser)
            self._log.close()


def inspect_report(binary: str, report: Path, screenshot: Path) -> tuple[dict[str, Any], list[str], bytes]:
    """Open ``report`` as a new reader would: (measurements, URLs requested, the page printed to PDF)."""
    with tempfile.TemporaryDirectory(prefix="eb-chromium-") as profile:
        browser = Browser(binary, Path(profile) / "profile", screenshot.with_suffix(".log"))
        try:
            browser.open(report.resolve().as_uri())
            seen = browser.evaluate(_INSPECT)
            browser.screenshot(screenshot)
            return seen, browser.requested_urls(), browser.pdf()
        finally:
            browser.close()


# The demo's plan with fabricated measurements: energy grows with the learning rate's inverse and the batch size.

def _fabricated_demo(root: Path) -> Path:
    import yaml

    from energybench.config import load_config
    from energybench.paths import ResultsLayout
    from energybench.plan import plan
    from energybench.planfile import write_plan

    from .conftest import REPO
    from .fabricate import fake_run

    cfg = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    for name in cfg["data"]:
        cfg["data"][name]["path"] = str(root / "data" / name)
    config = root / "demo.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    exp = load_config(config)
    specs = plan(exp)
    layout = ResultsLayout(root / "results")
    write_plan(layout, exp.name, specs)
    power = {"pamap2-baseline": 30.0, "pamap2-autoencoder": 25.0, "pamap2-frozen": 12.0, "celeba-identity": 45.0}
    for s in specs:
        epochs = 4 if s.learning_rate < 0.005 else 3
        accs = [0.5 + 0.12 * k for k in range(epochs)]
        fake_run(layout, s, epochs=epochs, power_w=power.get(s.paradigm, 20.0) * (1 + s.batch_size / 256),
                 epoch_s=2.0 + 0.5 * s.setup, accs=accs)
    return layout.root


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .conftest import eb

    results = _fabricated_demo(tmp_path_factory.mktemp("browser"))
    for command in ("collect", "figures", "report"):
        r = eb(command, str(results), timeout=300)
        assert r.returncode == 0, f"energybench {command}: {r.stdout}{r.stderr}"
    return results / "report.html"


def test_demo_report_in_headless_chromium(demo_report: Path, tmp_path: Path) -> None:
    assert_reads_well(demo_report, tmp_path / "report-first-screen.png")


def assert_reads_well(demo_report: Path, shot: Path) -> dict[str, Any]:
    """Open a report in headless Chromium and check what a reader sees first (tests/test_e2e.py uses
    it on the real demo's report too); returns the measurements."""
    binary = chromium_or_skip()
    seen, urls, pdf = inspect_report(binary, demo_report, shot)

    assert seen["url"] == demo_report.resolve().as_uri()
    assert seen["textLength"] > 1000, "the page is blank"
    broken = [i["src"] for i in seen["images"] if not i["ok"]]
    assert seen["images"] and not broken, f"images that did not load: {broken}"
    figures = {p.stem for p in (demo_report.parent / "figures").glob("*.png")}
    assert len(seen["images"]) == len(figures) + len(seen["heroTops"]), "each figure in its section, two also on top"
    assert seen["findingsTop"] is not None and 0 <= seen["findingsTop"] < seen["innerHeight"], seen
    assert seen["findingsItems"] >= 6, "a finding per question"
    assert len(seen["heroTops"]) == 2 and all(t < seen["innerHeight"] for t in seen["heroTops"]), seen["heroTops"]
    assert seen["scrollWidth"] <= seen["innerWidth"], f"the page scrolls sideways: {seen}"
    assert seen["details"] >= 1, "long tables are folded"
    assert seen["scripts"] == 0
    outside = [u for u in urls if not u.startswith(("file://", "data:"))]
    assert not outside, f"the page fetched from outside its folder: {outside}"
    assert pdf.startswith(b"%PDF-") and pdf.count(b"/Type /Page") > 2, "printed to PDF"

    png = shot.read_bytes()
    assert png.startswith(PNG)
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (WINDOW_W, WINDOW_H)
    return seen


def test_missing_chromium_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EB_CHROMIUM", "")
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: the browser test must run"):
        chromium_or_skip()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        chromium_or_skip()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tests/test_report_browser.py REPORT.html OUT.png")
    binary = find_chromium()
    if binary is None:
        sys.exit("no Chromium found; apt-get install -y chromium")
    found, _, _ = inspect_report(binary, Path(sys.argv[1]), Path(sys.argv[2]))
    print(json.dumps({k: v for k, v in found.items() if k != "images"}, indent=1))


def test_demo_report_has_the_claims_table_and_the_choices(demo_report: Path) -> None:
    md = demo_report.with_suffix(".md").read_text()
    page = demo_report.read_text()
    assert "## Published claims" in md and "## Choices the study leaves open" in md
    claims = md.split("## Published claims")[1].split("\n## ")[0]
    assert claims.count("not measured") > claims.count("| holds |") + claims.count("| does not hold |")
    assert "| holds |" in claims or "| does not hold |" in claims, "the demo's own values where it has them"
    choices = md.split("## Choices the study leaves open")[1].split("\n## ")[0]
    for row in ("PAMAP2 channels", "CelebA image size", "Input pipeline", "Sampling period", "Optimiser"):
        assert row in choices, row
    assert "32 x 32 px" in choices and "resident" in choices  # the demo config's own choices
    assert 'id="published-claims"' in page and 'href="#published-claims"' in page  # in the contents
