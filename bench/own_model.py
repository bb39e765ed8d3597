"""A reviewer's own model at real size: the 11M-parameter ResNet-18 sample uploaded as ONNX and compressed.

    python bench/own_model.py [--train-images 20000] [--points structured8,student] [--no-largest-check]

Exports the committed sample ``mnist-resnet18`` (torchvision's ResNet-18 layout: 7x7 stride-2 stem and max pool,
four stages of two basic blocks, 11.2M parameters, trained by ``sample_models/train.py``) to ONNX as a user would
(44.8 MB), uploads it with ``load_upload`` (20,000 of MNIST's training images as the training file, its 10,000
test images as the evaluation file), and measures with the product's defaults on an empty store: the baseline,
then 50% structured pruning + 8-bit and a student at half width, each first as the pages' first answer
(``api.quick_version``: no fine-tune, a one-epoch student, two pairs of short energy windows) and then fine-tuned.
Printed per step: seconds, accuracy, and the energy ratio with its 95% interval. Then the same files through the
CLI (``ecocompress run``, served from the store) and through the Upload page (AppTest), and the upload check of a file at the upload size limit (an
untrained wider ResNet-18). Issue 30's targets on two cores: upload check <= 60 s, first answer <= 30 s, final
answer <= 5 min, within 1 point of accuracy, saving beyond the interval, <= 4 GB per job.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compression"))

import numpy as np  # noqa: E402

from ecocompress.compressor.architectures import ResNet  # noqa: E402
from ecocompress.models.registry import get_model  # noqa: E402
from ecocompress.core.data import load_mnist  # noqa: E402
from ecocompress.core.points import CompressionPoint  # noqa: E402
from ecocompress.core.records import MeasureSettings  # noqa: E402

POINTS = {
    "structured8": CompressionPoint(sparsity=0.5, structured=True, bits=8),
    "student": CompressionPoint(student_width=0.5),
}


def _npz(x: np.ndarray, y: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-images", type=int, default=20_000)
    parser.add_argument("--points", default=",".join(POINTS), help="comma-separated, of: " + ", ".join(POINTS))
    parser.add_argument("--no-largest-check", dest="largest_check", action="store_false",
                        help="skip the upload check of a file at the upload size limit")
    args = parser.parse_args()
    os.environ["ECOCOMPRESS_HOME"] = tempfile.mkdtemp(prefix="ecocompress-own-model-")
    from ecocompress.compressor.export import export_onnx
    from ecocompress.models.uploads import load_upload
    from ecocompress.service.api import measure_point, quick_version

    data = load_mnist()
    net = get_model("mnist-resnet18").load()  # the committed sample, as a reviewer's own trained model
    print(f"mnist-resnet18: {sum(p.numel() for p in net.parameters()):,} parameters, "
          f"trained by sample_models/train.py ({net.__class__.__name__})")
    folder = Path(tempfile.mkdtemp(prefix="own-model-files-"))
    onnx_bytes = export_onnx(net.eval(), data.input_shape, folder / "resnet18.onnx").read_bytes()
    print(f"ONNX file: {len(onnx_bytes) / 1e6:.1f} MB")

    started = time.perf_counter()
    spec = load_upload(onnx_bytes, "resnet18-mnist.onnx", _npz(data.x_test, data.y_test), "mnist-test.npz",
                       train_bytes=_npz(data.x_train[:args.train_images], data.y_train[:args.train_images]),
                       train_filename="mnist-train.npz")  # 20,000 images: 63 MB, within the 100 MB upload limit
    print(f"upload check (parse, run, convert, compare, export again): {time.perf_counter() - started:.0f} s; "
          f"{spec.conversion.reason}")
    settings = MeasureSettings()
    print(f"{'step':<44} {'seconds':>8} {'accuracy':>9}  energy ratio (95%)")

    def measured(name: str, point: CompressionPoint, settings: MeasureSettings = settings) -> None:
        started = time.perf_counter()
        m = measure_point(spec.name, point, settings)
        seconds = time.perf_counter() - started
        ratio = (f"{m.energy_ratio:.2f} ({m.energy_ratio_ci_low:.2f}-{m.energy_ratio_ci_high:.2f})"
                 f"{', beyond' if m.energy_difference_significant else ', within'} its interval")
        print(f"{name:<44} {seconds:8.0f} {m.accuracy:9.2%}  {ratio}", flush=True)

    measured("baseline (the file)", CompressionPoint())
    for key in filter(None, args.points.split(",")):
        point = POINTS[key]
        measured(f"{point.label()}: first answer", *quick_version(spec.name, point, settings))
        measured(f"{point.label()}: fine-tuned", point)
    if "structured8" in args.points:
        _through_the_cli(folder, onnx_bytes, data, args.train_images)
    _through_the_page(onnx_bytes, data, args.train_images)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux
    print(f"peak memory of this process, where every step above ran (target <= 4 GB per job): {peak:.2f} GB")
    if args.largest_check:
        _check_largest(data, folder)


def _through_the_cli(folder: Path, onnx_bytes: bytes, data, train_images: int) -> None:
    """The same files and point as a user types them (``ecocompress run``): the upload is checked again and the
    point, measured above, is served from the store."""
    import contextlib
    import json

    from ecocompress.cli import main as cli

    files = {"model": folder / "resnet18.onnx", "data": folder / "mnist-test.npz", "train": folder / "mnist-train.npz"}
    files["data"].write_bytes(_npz(data.x_test, data.y_test))
    files["train"].write_bytes(_npz(data.x_train[:train_images], data.y_train[:train_images]))
    files["model"].write_bytes(onnx_bytes)
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = cli(["run", *(f"--{k}={v}" for k, v in files.items()), "--sparsity", "0.5", "--structured",
                    "--bits", "8", "--json"])
    record = json.loads(out.getvalue()) if code == 0 else {}
    print(f"the same point through the CLI (ecocompress run ... --json): exit {code}, "
          f"{time.perf_counter() - started:.0f} s, accuracy {record.get('accuracy', float('nan')):.2%}, "
          f"energy ratio {record.get('energy_ratio', float('nan')):.2f}")


def _through_the_page(onnx_bytes: bytes, data, train_images: int) -> None:
    """The same files through the Upload page, driven by Streamlit's AppTest as a browser session would: the upload
    is checked and added, and Explore then shows its baseline (measured above, so served from the store)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=600)
    at.run()
    at.switch_page("pages/views/upload.py").run()
    files = {"upload_model": ("resnet18-mnist.onnx", onnx_bytes),
             "upload_data": ("mnist-test.npz", _npz(data.x_test, data.y_test)),
             "upload_train": ("mnist-train.npz", _npz(data.x_train[:train_images], data.y_train[:train_images]))}
    started = time.perf_counter()
    for key, (name, content) in files.items():
        at.file_uploader(key=key).set_value((name, content, "application/octet-stream"))
    at.run()
    at.button(key="upload_add").click().run()
    added = any("Added" in s.value for s in at.success) and not at.exception
    checked = time.perf_counter() - started
    at.switch_page("pages/views/explore.py").run()
    accuracy = next((m.value for m in at.metric if "accuracy" in m.label.lower()), "not shown")
    errors = [e.value for e in at.error] + [str(e.value) for e in at.exception]
    print(f"the same files through the Upload page (AppTest): {'added' if added else 'not added'} in {checked:.0f} s; "
          f"Explore then shows {at.subheader[0].value if at.subheader else 'no point'!r}, accuracy {accuracy}, "
          f"{time.perf_counter() - started - checked:.0f} s{'; errors: ' + '; '.join(errors) if errors else ''}")


def _check_largest(data, folder: Path) -> None:
    """The upload check (target <= 60 s) of the widest ResNet-18 whose file fits the upload limit (100 MB by
    default): untrained, since only the check's time and memory matter here."""
    from ecocompress.compressor.architectures import count_parameters
    from ecocompress.compressor.export import export_onnx
    from ecocompress.sandbox.limits import Limits
    from ecocompress.models.uploads import load_upload, max_upload_bytes

    width = 1.0
    while count_parameters(ResNet(width + 0.05)) * 4 < 0.98 * max_upload_bytes():
        width += 0.05
    net = ResNet(width).eval()
    onnx_bytes = export_onnx(net, data.input_shape, folder / "wide.onnx").read_bytes()
    started = time.perf_counter()
    spec = load_upload(onnx_bytes, "wide-resnet18.onnx", _npz(data.x_test, data.y_test), "mnist-test.npz",
                       train_bytes=_npz(data.x_train[:20_000], data.y_train[:20_000]), train_filename="mnist-train.npz")
    print(f"upload check of a {len(onnx_bytes) / 1e6:.1f} MB file (ResNet-18 at width {width:.2f}, "
          f"{count_parameters(net):,} parameters; limit {max_upload_bytes() / 1e6:.0f} MB): "
          f"{time.perf_counter() - started:.0f} s; {spec.conversion.reason}")
    print(f"  (the conversion ran in a child under its memory limit, {Limits.for_conversion().granted_mb:,.0f} MB)")


if __name__ == "__main__":
    main()
