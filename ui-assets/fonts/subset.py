#!/usr/bin/env python3
"""Makes ui-assets/fonts/NotoSansSC-Kiosk.otf: Noto Sans CJK SC (Debian's fonts-noto-cjk) cut down
to what the kiosk can show: ASCII and Latin-1, general punctuation, CJK symbols and full-width
forms, every character of GB 2312 (the 6,763 common hanzi), and every character used anywhere in
the project's text (protocols, translations, examples). Run it again after adding text in a rare
character:

    python3 -m venv /tmp/ft && /tmp/ft/bin/pip install fonttools
    /tmp/ft/bin/python ui-assets/fonts/subset.py

The font is licensed under the SIL Open Font License 1.1 (ui-assets/fonts/OFL.txt).
"""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
OUT = ROOT / "ui-assets" / "fonts" / "NotoSansSC-Kiosk.otf"

chars = set()
for lo, hi in [(0x20, 0x7E), (0xA0, 0xFF), (0x2000, 0x206F), (0x2100, 0x214F), (0x2190, 0x21FF),
               (0x2460, 0x24FF), (0x25A0, 0x25FF), (0x2600, 0x26FF), (0x3000, 0x303F),
               (0xFF00, 0xFFEF)]:
    chars.update(range(lo, hi + 1))
# GB 2312: rows 0xB0-0xF7 (hanzi) and 0xA1-0xA9 (symbols), columns 0xA1-0xFE.
for row in list(range(0xA1, 0xAA)) + list(range(0xB0, 0xF8)):
    for col in range(0xA1, 0xFF):
        try:
            chars.add(ord(bytes([row, col]).decode("gb2312")))
        except UnicodeDecodeError:
            pass
for pattern in ["dialogue/data/**/*", "dialogue/cases/**/*", "ui-assets/i18n/*", "deploy/*.toml",
                "kiosk/src/**/*.rs"]:
    for path in ROOT.glob(pattern):
        if path.is_file():
            try:
                chars.update(ord(c) for c in path.read_text(encoding="utf-8"))
            except UnicodeDecodeError:
                pass
chars = sorted(c for c in chars if c >= 0x20)
unicodes = ",".join(f"U+{c:04X}" for c in chars)
subprocess.run([sys.executable, "-m", "fontTools.subset", SOURCE, "--font-number=2",
                f"--unicodes={unicodes}", f"--output-file={OUT}", "--layout-features=*",
                "--no-hinting"], check=True)
print(f"{OUT}: {len(chars)} characters, {OUT.stat().st_size // 1024} KiB")
