"""Open a run's report.html in headless Chromium: the page renders, every plot decodes, and a screenshot is kept.

    .venv/bin/python bench/report_check.py runs/<name> [--screenshot report.png]

Chromium is a system package (Debian: `apt-get install chromium`), not a Python dependency, so this is a bench
script rather than a test; tests/test_pipeline.py checks the page's structure and images without a browser.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# after load, the page reports how many images decoded (naturalWidth > 0) in its title
PROBE = (
    "<script>window.addEventListener('load',()=>{const i=[...document.images];"
    "document.title='decoded '+i.filter(x=>x.naturalWidth>0).length+' of '+i.length;});</script>"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args()
    browser = next((b for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        print("no Chromium found (apt-get install chromium)")
        return 2
    page = (args.run / "report" / "report.html").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        probed = Path(tmp) / "report.html"
        probed.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
        flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]
        dom = subprocess.run(
            [*flags, "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=120
        ).stdout
        shot = args.screenshot or Path(tmp) / "report.png"
        subprocess.run(
            [*flags, f"--screenshot={shot}", "--window-size=1200,3000", probed.as_uri()],
            capture_output=True,
            timeout=120,
        )
        title = re.search(r"<title>(.*?)</title>", dom)
        pixels = np.asarray(Image.open(shot).convert("L"))
    decoded = title.group(1) if title else "no title"
    inked = float((pixels < 250).mean())
    print(f"{browser}: {decoded}; {inked:.1%} of the screenshot is not blank")
    match = re.fullmatch(r"decoded (\d+) of (\d+)", decoded)
    return 0 if match and match.group(1) == match.group(2) != "0" and inked > 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
