"""The printed report in tests: Chromium prints it (required under CI=true), pypdf reads its text back."""

from __future__ import annotations

import io
import os

import pytest


def require_chromium() -> None:
    """Skip without Chromium to print with, except under CI=true, where the PDF path must be tested."""
    from ecocompress.review.pdf import chromium

    if chromium() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing (CI=true): the PDF path must be tested")
        pytest.skip("no Chromium to print with")


def pdf_pages(pdf: bytes) -> list[str]:
    """The text of each page of ``pdf``."""
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]
