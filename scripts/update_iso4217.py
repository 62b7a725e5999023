"""Regenerate paycli/data/iso4217.tsv from ISO 4217 List One.

The list is the one the ISO 4217 maintenance agency (SIX Financial Information) publishes
as XML; the `iso4217` package on PyPI ships it verbatim as `table.xml`. Run with that package
installed:  python scripts/update_iso4217.py

Kept: every active code with a numeric minor unit. Dropped: codes whose minor unit is
"N.A." (precious metals, SDR, bond-market units), and XTS/XXX (test and "no currency"),
which the contract rejects.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from importlib.resources import files
from pathlib import Path

EXCLUDED = {"XTS", "XXX"}
OUT = Path(__file__).resolve().parent.parent / "paycli" / "data" / "iso4217.tsv"


def main() -> None:
    root = ET.fromstring(files("iso4217").joinpath("table.xml").read_bytes())
    published = root.get("Pblshd", "unknown")
    rows: dict[str, tuple[str, str, str]] = {}
    for entry in root.iter("CcyNtry"):
        code = entry.findtext("Ccy")
        minor = entry.findtext("CcyMnrUnts")
        if not code or code in EXCLUDED or not (minor or "").isdigit():
            continue
        rows[code] = (entry.findtext("CcyNbr") or "", minor or "", entry.findtext("CcyNm") or "")
    lines = [
        f"# ISO 4217 List One, published {published} (SIX Financial Information, via the "
        "iso4217 package's table.xml).",
        "# Regenerate with scripts/update_iso4217.py. Columns: code, number, exponent, name.",
    ]
    lines += ["\t".join((code, *rows[code])) for code in sorted(rows)]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} currencies to {OUT}")


if __name__ == "__main__":
    main()
