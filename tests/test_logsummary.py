"""Repeated log lines are summarized, not repeated: 2,000 identical lines become two."""

from __future__ import annotations

import logging

from appliance.logsummary import RepeatSummarizer


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def make_logger(name: str, summarizer: RepeatSummarizer):
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    handler = Keep()
    handler.addFilter(summarizer)
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, lines


def test_two_thousand_identical_lines_become_one_and_a_summary():
    clock = Clock()
    summarizer = RepeatSummarizer(clock=clock)
    logger, lines = make_logger("test.summary.a", summarizer)
    for _ in range(2000):
        logger.info("Mode is now %s (was %s).", "pv", "pv")
        clock.now += 0.01
    assert lines == ["Mode is now pv (was pv)."]
    clock.now += 60
    logger.info("Something else happened.")
    assert lines[1] == '... and 1,999 more like "Mode is now pv (was pv)." in the last minute.'
    assert lines[2] == "Something else happened."


def test_different_lines_all_pass_and_a_line_passes_again_after_the_window():
    clock = Clock()
    summarizer = RepeatSummarizer(clock=clock)
    logger, lines = make_logger("test.summary.b", summarizer)
    for n in range(5):
        logger.info("PV %d kW", n)
    clock.now += 61
    logger.info("PV %d kW", 0)
    summarizer.flush()
    assert lines == ["PV 0 kW", "PV 1 kW", "PV 2 kW", "PV 3 kW", "PV 4 kW", "PV 0 kW"]


def test_flush_reports_a_flood_that_stopped():
    clock = Clock()
    summarizer = RepeatSummarizer(clock=clock)
    logger, lines = make_logger("test.summary.c", summarizer)
    for _ in range(3):
        logger.warning("Upload x ignored")
    clock.now += 60
    summarizer.flush()
    assert lines == ["Upload x ignored", '... and 2 more like "Upload x ignored" in the last minute.']
