"""Hostile uploads built in the test: no file is read, nothing expands before its size is known, one sentence each.

(The ordinary bad inputs run through both the CLI and the dashboard in test_uploads.py and test_app.py,
from the shared builders in bad_uploads.py, which include the subgraph file read below.)
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from bad_uploads import MARKER, add_one_loop_body, classifier_around, external_data_in_a_subgraph
from ecocompress.core.units import escape_markdown
from ecocompress.models.uploads import UploadError, all_tensors, read_labeled, read_onnx

ROOT = Path(__file__).resolve().parent.parent
SECRET = b"TOP-SECRET-MARKER-BYTES-0123456789"


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_external_data_in_a_subgraph_is_refused_and_the_file_never_read(tmp_path, monkeypatch):
    (tmp_path / MARKER).write_bytes(SECRET)
    monkeypatch.chdir(tmp_path)  # where onnxruntime would resolve the relative path
    with pytest.raises(UploadError) as caught:
        read_onnx(external_data_in_a_subgraph(), "subgraph.onnx")
    message = str(caught.value)
    assert "keeps its weights in a separate file" in message
    assert SECRET.decode() not in message and "TOP-SECRET" not in message


@pytest.mark.parametrize("where", ["initializer", "sparse initializer", "node attribute", "loop body", "function"])
def test_every_place_a_tensor_can_hide_is_walked(where):
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2], data_location=TensorProto.EXTERNAL)
    tensor.external_data.add(key="location", value="../../etc/passwd")
    constant = helper.make_node("Constant", [], ["k"], value=tensor)
    body = helper.make_graph([constant], "body", [], [helper.make_tensor_value_info("k", TensorProto.FLOAT, [2])])
    graph = helper.make_graph([], "g", [], [])
    model = helper.make_model(graph)
    if where == "initializer":
        model.graph.initializer.append(tensor)
    elif where == "sparse initializer":
        indices = helper.make_tensor("i", TensorProto.INT64, [1], [0])
        model.graph.sparse_initializer.append(helper.make_sparse_tensor(tensor, indices, [4]))
    elif where == "node attribute":
        model.graph.node.append(constant)
    elif where == "loop body":
        model.graph.node.append(helper.make_node("Loop", ["", ""], [], body=body))
    else:
        model.functions.append(helper.make_function("local", "f", [], ["k"], [constant], [helper.make_opsetid("", 18)]))
    assert any(t.data_location == TensorProto.EXTERNAL for t in all_tensors(model))
    with pytest.raises(UploadError, match="keeps its weights in a separate file"):
        read_onnx(model.SerializeToString(), "hidden.onnx")


def test_npz_headers_declaring_gigabytes_are_refused_before_reading():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        with archive.open("x.npy", "w") as handle:
            np.lib.format.write_array_header_1_0(handle, {"descr": "<f8", "fortran_order": False, "shape": (200_000, 100_000)})
        with archive.open("y.npy", "w") as handle:
            np.lib.format.write_array_header_1_0(handle, {"descr": "<i8", "fortran_order": False, "shape": (200_000,)})
    with pytest.raises(UploadError, match=r"would take 160,002 MB; the limit is 400 MB"):
        read_labeled(buffer.getvalue(), "huge.npz")


ZIP_BOMB = textwrap.dedent("""
    import io, resource, sys, zipfile
    import numpy as np
    from ecocompress.models.uploads import UploadError, read_labeled

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as handle:   # 800 MB of zeros, streamed
            np.lib.format.write_array_header_1_0(handle, {"descr": "<f8", "fortran_order": False, "shape": (100_000, 1_000)})
            chunk = bytes(8_000_000)
            for _ in range(100):
                handle.write(chunk)
        archive.writestr("y.npy", b"")
    data = buffer.getvalue()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        read_labeled(data, "bomb.npz")
        print("ACCEPTED")
    except UploadError as exc:
        print("REFUSED", len(data), before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, exc)
""")


def test_a_zip_bomb_is_refused_without_expanding_it():
    out = subprocess.run([sys.executable, "-c", ZIP_BOMB], capture_output=True, text=True, timeout=300, check=True)
    verdict, size, before_kb, after_kb, *message = out.stdout.split()
    assert verdict == "REFUSED", out.stdout
    assert int(size) < 2_000_000  # under 2 MB on the wire...
    assert "expands to" in " ".join(message) or "would take" in " ".join(message)
    assert int(after_kb) - int(before_kb) < 200_000, (before_kb, after_kb)  # ...and checking it grew the process < 200 MB


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.float32(1.0), "y": np.arange(3)}, "The array 'x' in 'bad.npz' is a single number"),
        ({"x": np.ones((3, 4), np.float32), "y": np.int64(1)}, "The array 'y' in 'bad.npz' is a single number"),
        ({"x": np.ones((3, 4), np.float32), "y": np.eye(3)}, "one-hot rows?"),
        ({"x": np.full((3, 4), 1e300), "y": np.arange(3)}, "have a missing or infinite value in example 0"),
        ({"x": np.ones((3, 4), np.float32), "y": np.array([0, 1, 1e30])}, "must be whole-number class indices; example 2"),
    ],
    ids=["0-d x", "0-d y", "one-hot y", "float32 overflow", "huge label"],
)
def test_odd_arrays_get_one_sentence(arrays, message):
    with pytest.raises(UploadError) as caught:
        read_labeled(_npz(**arrays), "bad.npz")
    assert message in str(caught.value)


def test_random_bytes_are_not_called_pickles():
    with pytest.raises(UploadError, match="is not an NPZ file"):
        read_labeled(os.urandom(4096), "random.npz")


def test_csv_beyond_the_cell_limit_is_refused_before_parsing(monkeypatch):
    monkeypatch.setenv("ECOCOMPRESS_MAX_CSV_CELLS", "1000")
    rows = "\n".join(",".join(["1"] * 20) for _ in range(100))
    with pytest.raises(UploadError, match="the limit is 1,000 values"):
        read_labeled(("," .join(f"f{i}" for i in range(19)) + ",label\n" + rows).encode(), "wide.csv")


def test_markdown_in_a_file_name_stays_text():
    name = "![t](https://example.invalid/?leak).csv"
    shown = escape_markdown(f"'{name}' has no 'label' column")
    assert "![" not in shown and "](" not in shown
    assert shown.replace("\\", "") == f"'{name}' has no 'label' column"


# ---- upload checks run in a child process under memory, CPU and wall-clock limits --------------------------------

def _memory_bomb() -> bytes:
    """851 bytes that ask onnxruntime for 40 GB: ConstantOfShape [100000, 100000], reduced to a bias."""
    return classifier_around(
        [helper.make_node("ConstantOfShape", ["big"], ["zeros"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
         helper.make_node("ReduceSum", ["zeros"], ["total"], keepdims=0),
         helper.make_node("Expand", ["total", "three"], ["bias"])],
        [helper.make_tensor("big", TensorProto.INT64, [2], [100_000, 100_000]), helper.make_tensor("three", TensorProto.INT64, [1], [3])],
    )


def _endless_loop() -> bytes:
    """A Loop of 2^40 iterations (its body adds 1): it would never return."""
    return classifier_around(
        [helper.make_node("Loop", ["trips", "keep_going", "start"], ["bias"], body=add_one_loop_body())],
        [helper.make_tensor("trips", TensorProto.INT64, [], [2**40]), helper.make_tensor("keep_going", TensorProto.BOOL, [], [True]),
         helper.make_tensor("start", TensorProto.FLOAT, [3], [0.0] * 3)],
    )


def _csv_for(classes: int = 3) -> bytes:
    rows = "\n".join(f"{i % 5},{i % 7},{i % 3},{i % 2},{i % classes}" for i in range(40))
    return ("a,b,c,d,label\n" + rows).encode()


def test_a_memory_bomb_model_is_stopped_by_the_memory_limit(monkeypatch):
    import resource

    from ecocompress.core.errors import EcoCompressError
    from ecocompress.models.uploads import load_upload

    monkeypatch.setenv("ECOCOMPRESS_CHECK_MEMORY_MB", "800")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(EcoCompressError) as caught:
        load_upload(_memory_bomb(), "bomb.onnx", _csv_for(), "data.csv", register=False)
    assert "bomb.onnx" in str(caught.value) and "MB of memory" in str(caught.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 300_000  # the server process did not grow (kB)


def test_an_endless_loop_is_stopped_by_the_time_limit(monkeypatch):
    import time

    from ecocompress.sandbox.limits import LimitExceeded
    from ecocompress.models.uploads import load_upload

    monkeypatch.setenv("ECOCOMPRESS_CHECK_CPU_S", "3")
    monkeypatch.setenv("ECOCOMPRESS_CHECK_WALL_S", "6")
    started = time.monotonic()
    with pytest.raises(LimitExceeded, match="loop.onnx"):
        load_upload(_endless_loop(), "loop.onnx", _csv_for(), "data.csv", register=False)
    assert time.monotonic() - started < 6 + 10  # the limit plus the child's start-up, never "forever"


def test_a_well_behaved_model_still_passes_the_limited_check():
    from ecocompress.models.uploads import load_upload

    spec = load_upload(classifier_around([], [helper.make_tensor("bias", TensorProto.FLOAT, [3], [0.0] * 3)]),
                       "fine.onnx", _csv_for(), "data.csv", register=False)
    assert spec.info.classes == 3


# ---- the CLI checks what it will write, and every flag, before any work --------------------------------------------

@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--model", "digits-cnn", "--out", "/proc/nope/models"], "Cannot create the folder '/proc/nope/models'"),
        (["run", "--model", "digits-cnn", "--out", "{file}"], "The 'out' parameter must be a folder"),
        (["report", "--model", "digits-cnn", "--out", "{folder}"], "The 'out' parameter must be a file path, not a folder"),
        (["run", "--model", "digits-cnn", "--country", ""], "The 'country' parameter must be a 3-letter ISO code"),
        (["project", "--model", "digits-cnn", "--regions", " , "], "The 'regions' parameter must be a comma-separated list"),
        (["search", "--model", "digits-cnn", "--seed", "-1"], "The 'seed' parameter must be an int in the range [0, 2**32)"),
        (["search", "--model", "digits-cnn", "--study", ""], "The 'study' parameter must be a non-empty name"),
    ],
    ids=["out in /proc", "out is a file", "report out is a folder", "empty country", "empty regions", "negative seed",
         "empty study"],
)
def test_cli_refuses_bad_flags_with_exit_2_before_measuring(argv, message, tmp_path, capsys):
    from ecocompress.cli import main
    from ecocompress.service.store import ResultsStore

    (tmp_path / "a-file").write_text("x")
    argv = [a.format(file=tmp_path / "a-file", folder=tmp_path) for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert ResultsStore().count() == 0  # nothing was measured first


def test_a_full_or_read_only_store_is_one_sentence(tmp_path, monkeypatch):
    """An unwritable database (as on a full disk) is a StoreError sentence, not an internal error."""
    import sqlite3

    from ecocompress.core.errors import StoreError
    from ecocompress.service.store import ResultsStore

    store = ResultsStore(tmp_path / "results.sqlite")
    real_connect = sqlite3.connect

    def full_disk(*args, **kwargs):
        conn = real_connect(*args, **kwargs)

        class Full:
            def __getattr__(self, name):
                return getattr(conn, name)

            def execute(self, sql, *rest):
                if sql.lstrip().upper().startswith(("INSERT", "UPDATE")):
                    raise sqlite3.OperationalError("database or disk is full")
                return conn.execute(sql, *rest)

        return Full()

    monkeypatch.setattr(sqlite3, "connect", full_disk)
    with pytest.raises(StoreError, match="database or disk is full.*free disk space"):
        store.start_job("digits-cnn", "8-bit")


def test_the_cli_checks_a_files_size_before_reading_it(tmp_path, monkeypatch, capsys):
    from ecocompress.cli import main

    monkeypatch.setenv("ECOCOMPRESS_MAX_UPLOAD_MB", "1")
    big = tmp_path / "big.onnx"
    with open(big, "wb") as handle:  # sparse: 3 GB on paper, nothing on disk, never read
        handle.truncate(3_000_000_000)
    (tmp_path / "d.csv").write_text("a,label\n1,0\n")
    assert main(["run", "--model", str(big), "--data", str(tmp_path / "d.csv")]) == 2
    assert "is 3,000.0 MB; the limit is 1 MB" in capsys.readouterr().err


def test_the_same_model_with_other_data_is_another_model_with_its_own_points(monkeypatch):
    """Session B uploading A's .onnx with other data must never change what A's model name resolves to."""
    from ecocompress.models import registry
    from ecocompress.models.registry import get_model
    from ecocompress.models.uploads import load_upload

    model = classifier_around([], [helper.make_tensor("bias", TensorProto.FLOAT, [3], [0.0] * 3)])
    first = load_upload(model, "same.onnx", _csv_for(), "a.csv")
    other_rows = "\n".join(f"{i % 3},{i % 2},{i % 5},{i % 7},{(i + 1) % 3}" for i in range(40))
    second = load_upload(model, "same.onnx", ("a,b,c,d,label\n" + other_rows).encode(), "b.csv")
    assert first.name != second.name and first.content_hash != second.content_hash
    assert get_model(first.name) is first and get_model(second.name) is second
    monkeypatch.setenv("ECOCOMPRESS_MAX_UPLOADS", "1")  # uploads are bounded: the oldest is let go
    registry.register_model(second)
    assert first.name not in registry._REGISTERED and get_model(second.name) is second


@pytest.mark.slow
def test_an_upload_lives_as_long_as_its_holder_and_the_total_is_bounded(monkeypatch):
    """Uploads are held by their session: dropped with it, and refused beyond the total for all sessions."""
    import gc

    from ecocompress.core.errors import EcoCompressError, UnknownModelError
    from ecocompress.models.registry import get_model
    from ecocompress.models.uploads import load_upload

    model = classifier_around([], [helper.make_tensor("bias", TensorProto.FLOAT, [3], [0.0] * 3)])
    held = load_upload(model, "held.onnx", _csv_for(), "a.csv")
    name = held.name
    assert get_model(name) is held
    assert load_upload(model, "held.onnx", _csv_for(), "a.csv") is held  # the same upload again: one copy
    monkeypatch.setenv("ECOCOMPRESS_MAX_UPLOADS_MB", str(held.held_bytes * 1.5 / 1e6))
    other_rows = "\n".join(f"{i % 3},{i % 2},{i % 5},{i % 7},{(i + 1) % 3}" for i in range(40))
    with pytest.raises(EcoCompressError, match="holds .* MB of uploads from open sessions"):
        load_upload(model, "held.onnx", ("a,b,c,d,label\n" + other_rows).encode(), "b.csv")
    del held
    gc.collect()
    with pytest.raises(UnknownModelError):  # its session ended: the data went with it
        get_model(name)
    monkeypatch.delenv("ECOCOMPRESS_MAX_UPLOADS_MB")
    assert load_upload(model, "held.onnx", ("a,b,c,d,label\n" + other_rows).encode(), "b.csv").name != name


def test_ended_sessions_are_collected_at_most_every_interval(monkeypatch):
    """A page run collects what ended sessions held, when an upload is held, at most every ``COLLECT_EVERY_S``."""
    import gc

    from ecocompress.models import registry

    collected = []
    monkeypatch.setattr(gc, "collect", lambda: collected.append(1) or 0)
    monkeypatch.setattr(registry, "_COLLECTED", [0.0])
    model = classifier_around([], [helper.make_tensor("bias", TensorProto.FLOAT, [3], [0.0] * 3)])
    from ecocompress.models.uploads import load_upload

    held = load_upload(model, "collected.onnx", _csv_for(), "a.csv")
    registry.release_ended()
    assert collected == [1]  # an upload is held: the ended sessions' garbage is collected now...
    registry.release_ended()
    assert collected == [1]  # ...and not again before COLLECT_EVERY_S
    del held


def test_uploads_wait_while_the_server_is_above_its_memory_ceiling(monkeypatch):
    from ecocompress.sandbox.limits import MemoryCeilingError
    from ecocompress.models.uploads import load_upload

    monkeypatch.setenv("ECOCOMPRESS_MAX_RSS_MB", "1")
    with pytest.raises(MemoryCeilingError, match="Adding an upload has to wait.*above its 1 MB ceiling"):
        load_upload(classifier_around([], [helper.make_tensor("bias", TensorProto.FLOAT, [3], [0.0] * 3)]),
                    "m.onnx", _csv_for(), "a.csv")
