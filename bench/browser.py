"""Browser benchmarks in Debian's Chromium, against a real daphne.

``python bench/browser.py editor`` (``--steps 300``): the editor with a workflow of N steps, as
a plain sequence and as a needs graph. Prints the render time (navigation start to the page
ready, and the graph layout's share), then the longest main-thread task (PerformanceObserver
"longtask", which reports tasks of 50 ms and more) and the longest gap between animation
frames while typing in the YAML pane, while dragging a card and while zooming. Target: no task
over 100 ms while typing or dragging.

``python bench/browser.py`` (or ``monitor``; ``--branches 200 --items 10000`` are the defaults):
the monitor of a run with a parallel block of N branches and a foreach of M items. Prints the
time to first render (navigation start to the snapshot drawn) of the monitor opened as the run
starts and again after it finished, and the longest main-thread task and the longest gap
between animation frames while events stream. Targets: first render < 1 s, no task over 100 ms.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).parent))
from browser_kit import browser_context, log_in  # noqa: E402
from streaming import bench_server  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PROBE = """
window.__long = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__long.push({start: e.startTime, duration: e.duration});
}).observe({type: "longtask", buffered: true});
window.__gap = 0;
let last = performance.now();
requestAnimationFrame(function frame(t) {
  if (document.body && document.body.dataset.ready) window.__gap = Math.max(window.__gap, t - last);
  last = t;
  requestAnimationFrame(frame);
});
"""


def workflow(branches: int, items: int) -> str:
    lanes = "\n".join(f"      - {{id: b{i}, uses: wait, with: {{seconds: {0.3 + (i % 8) * 0.1:.1f}}}}}"
                      for i in range(branches))
    return (f"name: browser-bench\nsteps:\n"
            f"  - {{id: src, uses: wait, with: {{seconds: 2, value: {list(range(items))}}}}}\n"
            f"  - id: fan\n    parallel:\n{lanes}\n"
            f"  - id: each\n    foreach: ${{src}}\n    concurrency: 200\n    steps:\n"
            f"      - {{id: w, uses: wait, with: {{seconds: 0.02}}}}\n")


def measure(page, url: str, until_finished: bool) -> dict:
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=30000)
    first = page.evaluate("performance.getEntriesByName('wf:first-render')[0].startTime")
    marks = page.evaluate("""() => ({
        html: performance.getEntriesByType('navigation')[0].responseEnd,
        connect: performance.getEntriesByName('wf:connect')[0].startTime,
        snapshot: performance.getEntriesByName('wf:snapshot')[0].startTime})""")
    ready_at = first
    if until_finished:
        page.wait_for_function("() => !['queued', 'running'].includes("
                               "document.querySelector('[data-testid=run-status]').dataset.status)", timeout=120000)
        page.wait_for_timeout(500)
    tasks = page.evaluate("window.__long")
    ours = page.evaluate("""() => Object.fromEntries(['wf:paint', 'wf:events'].map(name => {
        const d = performance.getEntriesByName(name).map(e => e.duration);
        return [name, {count: d.length, max: Math.max(0, ...d), total: d.reduce((a, b) => a + b, 0)}];
    }))""")
    streaming = [t["duration"] for t in tasks if t["start"] >= ready_at]
    return {"first_render_ms": first, "marks": marks, "longest_task_ms": max(streaming, default=0.0),
            "long_tasks": len(streaming), "ours": ours, "frame_gap_ms": page.evaluate("window.__gap"),
            "dom_nodes": page.evaluate("document.getElementsByTagName('*').length"),
            "status": page.evaluate("document.querySelector('[data-testid=run-status]').dataset.status")}


def main(branches: int, items: int, trace: str | None = None) -> None:
    _, _, proc, port = bench_server()
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client, sync_playwright() as p:
            headers = log_in(client)
            wf = client.post("/api/workflows/", json={"yaml": workflow(branches, items)}, headers=headers).json()
            browser, context = browser_context(p, client, FLAGS, PROBE)
            page = context.new_page()
            page.goto(f"{base}/")  # warm: fonts, modules, the first request
            run = client.post(f"/api/workflows/{wf['id']}/runs", json={}, headers=headers).json()
            started = time.perf_counter()
            if trace:
                browser.start_tracing(page=page, path=trace, categories=["toplevel", "devtools.timeline", "v8", "blink"])
            live = measure(page, f"{base}/runs/{run['id']}/", until_finished=True)
            wall = time.perf_counter() - started
            if trace:
                browser.stop_tracing()
            page = context.new_page()
            done = measure(page, f"{base}/runs/{run['id']}/", until_finished=False)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"Monitor of a run with a parallel block of {branches} branches and a foreach of {items} items"
          f" (Chromium, real daphne; the run took {wall:.1f} s and ended {live['status']})")
    print(f"  first render, opened as the run starts: {live['first_render_ms']:.0f} ms (target < 1000 ms)")
    print(f"  first render, opened after it finished: {done['first_render_ms']:.0f} ms")
    for name, m in (("as it starts", live["marks"]), ("after", done["marks"])):
        print(f"    {name}: page {m['html']:.0f} ms, modules loaded and socket opened at {m['connect']:.0f} ms,"
              f" snapshot in at {m['snapshot']:.0f} ms")
    print(f"  while events streamed: longest main-thread task {live['longest_task_ms']:.0f} ms"
          f" ({live['long_tasks']} tasks of 50 ms or more; target: none over 100 ms),"
          f" longest gap between frames {live['frame_gap_ms']:.0f} ms")
    for name, m in live["ours"].items():
        print(f"  {name}: {m['count']} calls, longest {m['max']:.1f} ms, {m['total']:.0f} ms in all")
    print(f"  DOM elements on the page: {live['dom_nodes']} live, {done['dom_nodes']} after")
    if trace:
        print(f"  the longest main-thread tasks (trace in {trace}):")
        for line in long_tasks(trace):
            print("    " + line)


TASKS = {"RunTask", "ThreadControllerImpl::RunTask"}  # the names of a top-level task in a trace


def long_tasks(path: str, at_least_ms: float = 50, most: int = 5) -> list[str]:
    """The renderer main thread's longest tasks in a Chromium trace, with what took their time."""
    import json

    events = json.loads(Path(path).read_text())["traceEvents"]
    main = {(e["pid"], e["tid"]) for e in events if e.get("name") == "thread_name"
            and e.get("args", {}).get("name") == "CrRendererMain"}
    timed = [e for e in events if (e.get("pid"), e.get("tid")) in main and e.get("ph") == "X" and "dur" in e]
    tasks = sorted((e for e in timed if e["name"] in TASKS and e["dur"] >= at_least_ms * 1000),
                   key=lambda e: -e["dur"])[:most]
    lines = []
    for task in tasks:
        end = task["ts"] + task["dur"]
        inside: dict[str, float] = {}
        for e in timed:
            if e is not task and task["ts"] <= e["ts"] < end and e["name"] not in TASKS:
                inside[e["name"]] = inside.get(e["name"], 0) + e["dur"] / 1000
        top = ", ".join(f"{name} {ms:.0f} ms" for name, ms in sorted(inside.items(), key=lambda kv: -kv[1])[:6])
        lines.append(f"{task['dur'] / 1000:.0f} ms: {top}")
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("page", nargs="?", choices=["monitor", "editor"], default="monitor")
    parser.add_argument("--branches", type=int, default=200)
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--steps", type=int, default=300, help="the editor's workflow size")
    parser.add_argument("--trace", help="write a Chromium trace of the live monitor here and break down its long tasks")
    args = parser.parse_args()
    if args.page == "editor":
        from browser_editor import editor_bench
        editor_bench(args.steps, FLAGS)
    else:
        main(args.branches, args.items, args.trace)
