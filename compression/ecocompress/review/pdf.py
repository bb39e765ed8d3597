"""The report as a PDF, printed by headless Chromium (a well-kept engine; nothing is drawn by hand here).

Chromium is an optional system package (Debian: ``apt-get install chromium``; ``ECOCOMPRESS_CHROMIUM`` names
another binary). Without it the HTML report stays available and ``PdfUnavailable`` says how to get the PDF.
The HTML is printed from a file in a private temporary folder, with networking off, so a report can never
fetch anything while it is printed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ecocompress.core.errors import EcoCompressError

PRINT_TIMEOUT_S = 60.0
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


class PdfUnavailable(EcoCompressError):
    """No browser to print with, or printing failed: the HTML report is still there."""


def chromium() -> str | None:
    """The browser binary used for printing, or None."""
    from ecocompress.core.settings import settings

    named = settings().chromium
    if named is not None:
        return str(named) if named.is_file() else None
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def html_to_pdf(html: str) -> bytes:
    """``html`` printed to A4 PDF bytes by headless Chromium."""
    browser = chromium()
    if browser is None:
        raise PdfUnavailable("A PDF needs Chromium on the server (apt-get install chromium); download the HTML report "
                             "and print it to PDF from your browser instead.")
    with tempfile.TemporaryDirectory(prefix="ecocompress-pdf-") as tmp:
        page, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                   "--disable-background-networking", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                   f"--user-data-dir={tmp}/profile", "--no-pdf-header-footer", f"--print-to-pdf={out}", page.as_uri()]
        try:
            subprocess.run(command, capture_output=True, timeout=PRINT_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PdfUnavailable(f"Printing the report to PDF failed ({type(exc).__name__}); download the HTML report "
                                 "and print it from your browser instead.") from None
        if not out.is_file() or not out.read_bytes().startswith(b"%PDF"):
            raise PdfUnavailable("Printing the report to PDF failed; download the HTML report and print it from your "
                                 "browser instead.")
        return out.read_bytes()
