"""Run run_one.py for every converter x model in its own process (own PYTHONPATH, 1 thread, nice 10).

usage: python run_all.py [OUT.jsonl] [--quick] [--only SUBSTR] [--converters a,b]
Each converter lives in /tmp/convlib/<name> (pip install --no-deps --target); /tmp/convlib/tvstub is a
stub torchvision (the PyPI torchvision wheels here are CUDA builds that cannot load with torch+cpu).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CONVERTERS = ["onnx2torch", "onnx2torch2", "onnx2pytorch", "onnx2fx"]
HERE = Path(__file__).parent


def main():
    args = sys.argv[1:]
    out = Path(args[0]) if args and not args[0].startswith("--") else HERE / "results.jsonl"
    quick = "--quick" in args
    only = args[args.index("--only") + 1] if "--only" in args else ""
    convs = args[args.index("--converters") + 1].split(",") if "--converters" in args else CONVERTERS
    index = json.load(open("/tmp/conv_onnx/index.json"))
    keys = [k for k in index if only in k]
    if "--exclude" in args:
        for bad in args[args.index("--exclude") + 1].split(","):
            keys = [k for k in keys if bad not in k]
    with out.open("w") as fh:
        for key in keys:
            for conv in convs:
                env = dict(os.environ, PYTHONPATH=f"/tmp/convlib/{conv.split('+')[0]}:/tmp/convlib/tvstub", OMP_NUM_THREADS="1",
                           MKL_NUM_THREADS="1")
                cmd = ["nice", "-n", "10", sys.executable, str(HERE / "run_one.py"), conv, key] + (["--quick"] if quick else [])
                try:
                    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
                    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
                    rec = json.loads(lines[-1]) if lines else {"converter": conv, "model": key,
                                                               "convert": f"crashed rc={p.returncode}: {p.stderr[-300:]}"}
                except subprocess.TimeoutExpired:
                    rec = {"converter": conv, "model": key, "convert": "timeout (600 s)"}
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                short = {k: rec.get(k) for k in ("convert", "max_abs_diff", "argmax_agree", "backward", "tp_one_layer", "tp_global")}
                print(conv, key, short, flush=True)


if __name__ == "__main__":
    main()
