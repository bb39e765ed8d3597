"""What every uploaded file gets before it is read: its size, its kind (never a pickle) and a name safe to show."""

from __future__ import annotations

import re

from ecocompress.core.errors import InvalidParameterError
from ecocompress.core.files import too_large
from ecocompress.core.settings import settings

PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".joblib", ".bin", ".ckpt", ".sav")


class UploadError(InvalidParameterError):
    """An uploaded file that cannot be used, with the reason and the fix in one sentence."""


def max_upload_bytes() -> int:
    """The upload size limit (``ECOCOMPRESS_MAX_UPLOAD_MB``)."""
    return int(settings().max_upload_mb * 1e6)


def display_name(filename: str) -> str:
    """The file's base name for messages (a name is only ever shown, never used as a path)."""
    return re.split(r"[\\/]", str(filename))[-1][:80] or "upload"


def check_expansion(in_memory: int, on_the_wire: int, name: str) -> None:
    """Refuse data that would take more than ``ECOCOMPRESS_MAX_EXPANSION`` times its file size once read."""
    ratio = settings().max_expansion
    if in_memory > ratio * max(1, on_the_wire):
        raise UploadError(f"{name!r} would take {in_memory / 1e6:,.0f} MB in memory from {on_the_wire / 1e6:,.2f} MB "
                          f"on the wire, more than {ratio:g} times its size (ECOCOMPRESS_MAX_EXPANSION); upload the "
                          "data uncompressed or as a smaller sample.")


def check_size_and_kind(data: bytes, filename: str, what: str) -> None:
    name = display_name(filename)
    if len(data) > max_upload_bytes():
        raise UploadError(too_large(what, name, len(data), max_upload_bytes()))
    if not data:
        raise UploadError(f"The {what} {name!r} is empty; choose the file again.")
    looks_pickled = data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
    torch_zip = data[:4] == b"PK\x03\x04" and b"data.pkl" in data[:4096]
    if name.lower().endswith(PICKLE_SUFFIXES) or looks_pickled or torch_zip:
        raise UploadError(
            f"{name!r} is a pickle-based file (PyTorch or scikit-learn), which can run code when loaded, so "
            "ecocompress never opens it; export the model to ONNX (torch.onnx.export or skl2onnx) and upload the .onnx file."
        )
