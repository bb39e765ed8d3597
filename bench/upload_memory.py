"""Does a shared server give memory back when sessions that uploaded models close?

Starts `streamlit run app.py` on an empty store and, in headless Chromium (Playwright), repeats
N times: open "Your model" in a new browser tab, upload an ONNX classifier with a sizeable NPZ of
data, add it, wait for "Added", close the tab. The server's resident memory (its own process; the
upload check runs in a child) is read from /proc before the first cycle, after each cycle, and after
the closed sessions expire (Streamlit keeps a disconnected session for
`server.disconnectedSessionTTL` seconds, set low here, and drops it on the next connection).

Target (issue 17): after 20 cycles the server is back within 150 MB of where it started.

    python bench/upload_memory.py [--cycles 20] [--rows 40000]
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TTL_S = 3
COLLECT_EVERY_S = 10  # models.registry.COLLECT_EVERY_S
FEATURES = 256
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1e3
    return float("nan")


def children_mb(pid: int) -> float:
    """Resident memory of the server's child processes (the fork server for upload checks, a compute worker)."""
    total = 0.0
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for kid in child.read_text().split():
            try:
                total += rss_mb(int(kid)) + children_mb(int(kid))
            except (OSError, ValueError):
                continue
    return total


def model_file(folder: Path, features: int = FEATURES) -> tuple[Path, object]:
    """An MLP classifier exported to ONNX, and the torch module (to label data with)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, 4)).eval()
    onnx_path = folder / "mlp.onnx"
    torch.onnx.export(model, (torch.zeros(2, features),), str(onnx_path), input_names=["x"], external_data=False,
                      dynamic_shapes={"input": {0: torch.export.Dim("batch")}})
    return onnx_path, model


def data_file(folder: Path, model, rows: int, seed: int, features: int = FEATURES) -> Path:
    """``rows`` x ``features`` float32 examples labelled by ``model`` (NPZ); another seed, another upload."""
    import torch

    x = np.random.default_rng(seed).normal(size=(rows, features)).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).argmax(1).numpy()
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    path = folder / "data.npz"
    path.write_bytes(buffer.getvalue())
    return path


def start_server(home: Path, log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "ECOCOMPRESS_HOME": str(home), "PYTHONPATH": str(ROOT / "compression"),
           "MALLOC_ARENA_MAX": "2"}  # as the README starts the app
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.disconnectedSessionTTL", str(TTL_S)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                if resp.read().decode().strip() == "ok":
                    return proc, base
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"streamlit did not start; see {log}")


def one_cycle(browser, base: str, model: Path, data: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        _upload(page, base, model, data)
    except Exception:
        page.screenshot(path=str(ROOT / "test-artifacts" / "upload-memory-failure.png"), full_page=True)
        print(page.locator('[data-testid="stMain"]').inner_text()[-1500:])
        raise
    finally:
        context.close()


def _upload(page, base: str, model: Path, data: Path) -> None:
    page.goto(f"{base}/upload")
    # Streamlit 1.67 sometimes shows "Page not found" over a deep link while the page itself runs; the
    # dialog would take the clicks below, so close it when it shows.
    dialog = page.get_by_role("dialog").filter(has_text="Page not found")
    try:
        dialog.wait_for(timeout=3_000)
        dialog.get_by_role("button").first.click()
    except Exception:  # noqa: BLE001 - no dialog: nothing to close
        pass
    uploader = lambda label: page.locator('[data-testid="stFileUploader"]').filter(has_text=label)  # noqa: E731
    uploader("ONNX model").locator('input[type="file"]').wait_for(state="attached", timeout=60_000)
    uploader("ONNX model").locator('input[type="file"]').set_input_files(str(model))
    uploader("ONNX model").locator('[data-testid="stFileChip"]').filter(has_text=model.name).wait_for(timeout=60_000)
    uploader("Labeled data").locator('input[type="file"]').set_input_files(str(data))
    uploader("Labeled data").locator('[data-testid="stFileChip"]').filter(has_text=data.name).wait_for(timeout=120_000)
    button = page.get_by_role("button", name="Check and add the model")
    page.wait_for_function("() => [...document.querySelectorAll('button')].some(b => "
                           "b.innerText.includes('Check and add the model') && !b.disabled)", timeout=180_000)
    button.click(timeout=60_000)
    page.get_by_text("Added", exact=False).first.wait_for(timeout=120_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--rows", type=int, default=20_000, help="examples in the uploaded NPZ (256 float32 each)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model, torch_model = model_file(folder)
        data = data_file(folder, torch_model, args.rows, seed=0)
        print(f"upload: {model.stat().st_size / 1e3:.0f} kB model, {data.stat().st_size / 1e6:.1f} MB data, other data "
              f"each cycle; {args.cycles} cycles; disconnected sessions kept {TTL_S} s")
        proc, base = start_server(folder / "home", folder / "streamlit.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                warm = browser.new_context()
                warm.new_page().goto(f"{base}/upload")  # the first render, before the baseline reading
                time.sleep(5)
                warm.close()
                start = rss_mb(proc.pid)
                print(f"server after its first page: {start:,.0f} MB")
                peak = start
                for cycle in range(1, args.cycles + 1):
                    one_cycle(browser, base, model, data_file(folder, torch_model, args.rows, seed=cycle))
                    now = rss_mb(proc.pid)
                    peak = max(peak, now)
                    print(f"  after cycle {cycle:2d}: {now:,.0f} MB")
                time.sleep(TTL_S + 1)  # the closed sessions expire; the next disconnect drops them from the cache
                probe = browser.new_context()
                probe.new_page().goto(f"{base}/upload")
                time.sleep(4)
                probe.close()
                time.sleep(COLLECT_EVERY_S + 2)  # the next page run collects what they held (at most every 10 s)
                probe = browser.new_context()
                probe.new_page().goto(f"{base}/upload")
                time.sleep(4)
                end, kids = rss_mb(proc.pid), children_mb(proc.pid)
                probe.close()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(15)
    grew = end - start
    print(f"server after {args.cycles} upload-and-close cycles: {end:,.0f} MB (peak {peak:,.0f} MB); "
          f"change {grew:+,.0f} MB; target within 150 MB: {'met' if grew <= 150 else 'NOT met'}; "
          f"its child processes (fork server for checks): {kids:,.0f} MB")


if __name__ == "__main__":
    main()
