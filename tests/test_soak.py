"""A short soak through the stepped core: 2 simulated hours over the evening unplug, with pushes
every 10 s; memory, threads and descriptors do not grow, no rule is broken, the session is
recorded. (`python -m appliance.sim.soak --hours 24` is the full day.)"""

import io

from appliance.sim.soak import Usage, growth, soak_hours


def test_two_simulated_hours_grow_nothing_and_break_no_rule():
    out = io.StringIO()
    assert soak_hours(2.0, out=out, start_hour=18.0) == 0, out.getvalue()
    text = out.getvalue()
    assert "1 sessions (1 recorded), 0 safety-rule violations" in text


def test_growth_is_reported():
    first = Usage(python_bytes=100_000, rss_bytes=0, threads=3, fds=10)
    assert growth(first, first) == []
    grown = growth(first, Usage(python_bytes=900_000, rss_bytes=0, threads=4, fds=11))
    assert len(grown) == 3 and "Threads grew from 3 to 4." in grown
