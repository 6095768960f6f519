#!/usr/bin/env python3
"""Opens an experiment report in headless Chromium and checks it as a reader sees it.

Talks to Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe:
commands on the browser's fd 3, replies on its fd 4, NUL-separated JSON), so
nothing beyond the Python standard library is needed. It checks that:
  - the page loads, with no console message of level error or warning, no
    uncaught exception and no request but the page itself (data: URIs are not
    requests; anything else, http or file, is a failure);
  - the page has the expected numbers of table rows, charts and grid pictures,
    and every picture decodes (naturalWidth > 0);
and it saves a full-page screenshot.

usage: check_report.py --chromium BIN --report FILE --screenshot PNG
                       --expect JSON   (e.g. '{"table_rows": 5, "grid-train": [8, 6]}')
Exit 0 when every check passes, 1 with one line per failure otherwise.
"""
import argparse
import json
import os
import select
import shlex
import subprocess
import sys
import tempfile
import time
import base64
import pathlib


class Browser:
    def __init__(self, chromium, profile):
        cmd_r, self._cmd_w = os.pipe()   # we write commands, Chromium reads them on fd 3
        self._out_r, out_w = os.pipe()   # Chromium writes replies on fd 4
        args = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", "--window-size=1280,1024", "--remote-debugging-pipe", "--user-data-dir=" + profile, "about:blank"]
        shell = "exec " + " ".join(shlex.quote(a) for a in args) + f" 3<&{cmd_r} 4>&{out_w}"
        self.proc = subprocess.Popen(["bash", "-c", shell], pass_fds=(cmd_r, out_w),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(cmd_r)
        os.close(out_w)
        self._buffer = b""
        self._next_id = 0
        self.events = []

    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from Chromium in time")
            ready, _, _ = select.select([self._out_r], [], [], left)
            if ready:
                chunk = os.read(self._out_r, 1 << 20)
                if not chunk:
                    err = self.proc.stderr.read().decode(errors="replace")[-2000:]
                    raise RuntimeError("Chromium closed the pipe: " + err)
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, session=None, timeout=30):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._cmd_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method, timeout=30):
        deadline = time.monotonic() + timeout
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        while True:
            e = self._read_message(deadline)
            if e.get("method") == method:
                return e
            self.events.append(e)

    def drain(self, seconds):
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read_message(deadline))
        except TimeoutError:
            pass

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# Counts taken in the page: table rows, charts by kind and their marks, and per
# grid its rows, pictures per row and pictures that did not decode.
COUNT_SCRIPT = r"""
(() => {
  const q = (s) => document.querySelectorAll(s).length;
  const grids = {};
  for (const g of document.querySelectorAll('table.grid')) {
    const rows = [...g.querySelectorAll('tbody tr')];
    grids[g.id] = {rows: rows.length, images: rows.map(r => r.querySelectorAll('img').length),
                   broken: [...g.querySelectorAll('img')].filter(i => !(i.complete && i.naturalWidth > 0)).length};
  }
  return JSON.stringify({
    title: document.title,
    table_rows: q('#table1 tbody tr'),
    charts: {bar: q('svg.chart[data-kind=bar]'), line: q('svg.chart[data-kind=line]'),
             matrix: q('svg.chart[data-kind=matrix]')},
    bars: q('svg.chart rect.bar'), series: q('svg.chart polyline.series'), markers: q('svg.chart line.marker'),
    sections: [...document.querySelectorAll('section')].map(s => s.id),
    scripts: q('script'), grids: grids,
    width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight,
  });
})()
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chromium", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--expect", required=True, help="JSON of expected counts")
    a = ap.parse_args()
    expect = json.loads(a.expect)
    url = pathlib.Path(a.report).resolve().as_uri()
    failures = []
    with tempfile.TemporaryDirectory() as profile:
        b = Browser(a.chromium, profile)
        try:
            target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                b.send(domain + ".enable", session=session)
            b.events.clear()  # about:blank's own
            b.send("Page.navigate", {"url": url}, session=session)
            b.wait_for("Page.loadEventFired", timeout=30)
            b.drain(0.5)  # late console messages or requests
            counts = json.loads(b.send("Runtime.evaluate", {"expression": COUNT_SCRIPT, "returnByValue": True},
                                       session=session)["result"]["value"])
            metrics = b.send("Page.getLayoutMetrics", session=session)
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            shot = b.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                     "clip": {"x": 0, "y": 0, "width": size["width"],
                                                              "height": size["height"], "scale": 1}},
                          session=session, timeout=60)
            png = base64.b64decode(shot["data"])
            pathlib.Path(a.screenshot).write_bytes(png)
        finally:
            b.close()

    for e in b.events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Network.requestWillBeSent":
            request_url = params["request"]["url"]
            if request_url != url and not request_url.startswith("data:"):
                failures.append(f"network request: {request_url}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
            text = " ".join(str(x.get("value", x.get("description", ""))) for x in params.get("args", []))
            failures.append(f"console {params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            failures.append("exception: " + params["exceptionDetails"].get("text", ""))
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            failures.append(f"log {params['entry']['level']}: {params['entry'].get('text', '')} "
                            f"{params['entry'].get('url', '')}")

    if counts["scripts"]:
        failures.append(f"{counts['scripts']} script elements")
    for key in ("table_rows", "bars", "series", "markers"):
        if key in expect and counts[key] != expect[key]:
            failures.append(f"{key}: {counts[key]}, expected {expect[key]}")
    for kind, n in expect.get("charts", {}).items():
        if counts["charts"].get(kind) != n:
            failures.append(f"{kind} charts: {counts['charts'].get(kind)}, expected {n}")
    for section in expect.get("sections", []):
        if section not in counts["sections"]:
            failures.append(f"no section {section}")
    for grid, (rows, per_row) in expect.get("grids", {}).items():
        g = counts["grids"].get(grid)
        if not g:
            failures.append(f"no grid {grid}")
            continue
        if g["rows"] != rows:
            failures.append(f"{grid}: {g['rows']} rows, expected {rows}")
        if any(n != per_row for n in g["images"]):
            failures.append(f"{grid}: pictures per row {g['images']}, expected {per_row} each")
        if g["broken"]:
            failures.append(f"{grid}: {g['broken']} pictures did not decode")
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 10000:
        failures.append(f"screenshot: not a plausible PNG ({len(png)} bytes)")
    else:
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        if width < 600 or height < counts["height"] * 0.9:
            failures.append(f"screenshot {width}x{height} does not cover the page ({counts['height']} px high)")
    print(json.dumps(counts, sort_keys=True))
    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
