"""The hand-drawn wiring diagram: valid SVG that names every connection the README's tables give."""

import xml.etree.ElementTree as ET
from pathlib import Path

SVG = Path(__file__).resolve().parents[2] / "hardware" / "wiring.svg"


def _texts():
    root = ET.parse(SVG).getroot()
    return " | ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))


def test_diagram_is_svg_with_a_size():
    root = ET.parse(SVG).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox")


def test_diagram_names_every_wire():
    texts = _texts()
    for label in ["pin 19 MOSI (BCM10)", "pin 23 SCLK (BCM11)", "pin 24 CE0 (BCM8)", "pin 22 (BCM25)",
                  "pin 13 (BCM27)", "pin 12 (BCM18)", "pin 40 (BCM21)", "pin 39 GND", "pin 2 5 V",
                  "A: cable 6 white-blue", "B: cable 5 blue", "HDR-15-5", "1 A"]:
        assert label in texts, f"wiring.svg lacks {label!r}"


def test_diagram_covers_the_basic_box_log_pair_and_dip_switches():
    texts = _texts()
    for label in ['CN28 "LOG"', "pin 8 TXD (BCM14)", "pin 10 RXD (BCM15)", "pin 17 3.3 V", "pin 14 GND",
                  "off-off-on: 16 A", "on-on-on: 80 A", "powered off", "by an electrician"]:
        assert label in texts, f"wiring.svg lacks {label!r}"
