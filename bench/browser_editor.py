"""The editor half of ``python bench/browser.py editor``: a workflow of N steps (a plain
sequence, then a needs graph) opened in Debian's Chromium against a real daphne; the render
time, then the main thread's longest task and longest gap between frames while typing in the
YAML pane, while dragging a card (SortableJS) and while zooming (Ctrl+wheel)."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).parent))
from browser_kit import browser_context, log_in  # noqa: E402
from streaming import bench_server  # noqa: E402

# every long task with its start, frames' gaps, and when the page said it was ready
PROBE = """
window.__long = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__long.push({start: e.startTime, duration: e.duration});
}).observe({type: "longtask", buffered: true});
window.__gaps = [];
let last = performance.now();
requestAnimationFrame(function frame(t) { window.__gaps.push([t, t - last]); last = t; requestAnimationFrame(frame); });
new MutationObserver(() => {
  if (document.body?.dataset.ready && !window.__ready) window.__ready = performance.now();
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-ready"]});
"""


def sequence(n: int) -> str:
    return "name: bench-sequence\nsteps:\n" + "".join(
        f"  - {{id: s{i}, uses: wait, with: {{seconds: 0}}}}\n" for i in range(n))


def graph(n: int) -> str:
    """Three braided chains, every tenth step joining two: a layered graph three or four wide."""
    lines = ["  - {id: s0, uses: wait, with: {seconds: 0}}\n"]
    for i in range(1, n):
        needs = sorted({max(0, i - 1 - i % 3)} | ({i - 2} if i % 10 == 0 else set()))
        lines.append(f"  - {{id: s{i}, needs: [{', '.join(f's{j}' for j in needs)}], uses: wait, with: {{seconds: 0}}}}\n")
    return "name: bench-graph\nsteps:\n" + "".join(lines)


def window(page, since: float) -> dict:
    """The long tasks and the longest frame gap since `since` (page time, ms)."""
    tasks = [t["duration"] for t in page.evaluate("window.__long") if t["start"] >= since]
    gaps = [g for t, g in page.evaluate("window.__gaps") if t >= since]
    ours = page.evaluate("""since => Object.fromEntries(['wf:graphs', 'wf:layout'].map(name => {
        const d = performance.getEntriesByName(name).filter(e => e.startTime >= since).map(e => e.duration);
        return [name, {count: d.length, max: Math.max(0, ...d), total: d.reduce((a, b) => a + b, 0)}]; }))""", since)
    return {"longest_ms": max(tasks, default=0.0), "count": len(tasks), "gap_ms": max(gaps, default=0.0), "ours": ours}


def now(page) -> float:
    return page.evaluate("performance.now()")


def typing(page) -> dict:
    """Type 12 digits into a step's `seconds`, in bursts with pauses (each pause lets the
    canvas follow: parse, redraw, lay out, validate)."""
    line = page.locator(".cm-line", has_text="id: s3,").first
    line.click()
    page.keyboard.press("End")
    for _ in range(len("}}") if "}}" in line.inner_text() else 0):
        page.keyboard.press("ArrowLeft")
    start = now(page)
    for burst in range(3):
        for digit in "1234":
            page.keyboard.type(digit)
            page.wait_for_timeout(90)
        page.wait_for_timeout(700)
    page.wait_for_timeout(800)
    return window(page, start)


def dragging(page) -> dict:
    """Drag the card s4 down past a dozen cards, as a hand does (a second and a half)."""
    page.locator(".card[data-id=s4]").scroll_into_view_if_needed()
    card = page.locator(".card[data-id=s4] .card-head").bounding_box()
    x, y = card["x"] + 30, card["y"] + card["height"] / 2
    start = now(page)
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 31):
        page.mouse.move(x + 6, y + i * 12)
        page.wait_for_timeout(40)
    page.mouse.up()
    page.wait_for_timeout(1000)
    return window(page, start)


def zooming(page) -> dict:
    box = page.locator("[data-testid=viewport]").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    start = now(page)
    page.keyboard.down("Control")
    for dy in [120] * 10 + [-120] * 10:
        page.mouse.wheel(0, dy)
        page.wait_for_timeout(30)
    page.keyboard.up("Control")
    page.wait_for_timeout(400)
    return window(page, start)


def open_editor(context, base: str, workflow_id: int) -> tuple:
    page = context.new_page()
    page.goto(f"{base}/workflows/{workflow_id}/")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=60000)
    page.wait_for_function("!document.querySelector('.dag-pending')", timeout=60000)
    laid_out = now(page)
    page.wait_for_timeout(500)
    ready = page.evaluate("window.__ready")
    layout = page.evaluate("""() => { const d = performance.getEntriesByName('wf:layout').map(e => e.duration);
        return {count: d.length, total: d.reduce((a, b) => a + b, 0), max: Math.max(0, ...d)}; }""")
    loading = window(page, 0)
    return page, {"ready_ms": ready, "laid_out_ms": laid_out, "layout": layout, "load_longest_ms": loading["longest_ms"],
                  "cards": page.locator(".card").count()}


def editor_bench(steps: int, flags: list[str]) -> None:
    _, _, proc, port = bench_server()
    base = f"http://127.0.0.1:{port}"
    results = {}
    try:
        with httpx.Client(base_url=base, timeout=60) as client, sync_playwright() as p:
            headers = log_in(client)
            browser, context = browser_context(p, client, flags, PROBE)
            context.new_page().goto(f"{base}/")  # warm: fonts, modules, the first request
            for shape, text in (("sequence", sequence(steps)), ("graph", graph(steps))):
                made = client.post("/api/workflows/", json={"yaml": text}, headers=headers)
                made.raise_for_status()
                page, render = open_editor(context, base, made.json()["id"])
                results[shape] = {"render": render, "typing": typing(page), "dragging": dragging(page),
                                  "zooming": zooming(page)}
                page.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"Editor with {steps} steps (Chromium, real daphne; tasks of 50 ms or more are reported;"
          " target: none over 100 ms while typing or dragging)")
    for shape, r in results.items():
        render = r["render"]
        print(f"  {shape}: {render['cards']} cards drawn; ready {render['ready_ms']:.0f} ms after navigation start,"
              f" longest task while loading {render['load_longest_ms']:.0f} ms; every graph laid out by"
              f" {render['laid_out_ms']:.0f} ms (main thread: {render['layout']['count']} passes,"
              f" {render['layout']['total']:.0f} ms in all)")
        for what in ("typing", "dragging", "zooming"):
            m = r[what]
            graphs = m["ours"]["wf:graphs"]
            print(f"    {what:9s} longest main-thread task {m['longest_ms']:4.0f} ms ({m['count']} long tasks),"
                  f" longest gap between frames {m['gap_ms']:.0f} ms; graph pass {graphs['count']}x,"
                  f" longest {graphs['max']:.0f} ms (dagre {m['ours']['wf:layout']['max']:.0f} ms)")
