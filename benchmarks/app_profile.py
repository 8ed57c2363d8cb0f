"""Where the simulator page spends its time on a slider move, stage by stage (no browser).

Runs the page under Streamlit's AppTest, moves policy sliders to positions not seen before,
and prints the median milliseconds from the start of the page script to the end of each
stage (the page records them with `mark()`): sidebar widgets, projection, headline, main
chart, countries, whole page. Browser-side figures: benchmarks/app_latency.py.

    python benchmarks/app_profile.py
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MOVES = [("w:pue_cap", v) for v in (1.5, 1.4, 1.3, 1.2, 1.15, 1.1)] + \
        [("w:batching", v) for v in (1.25, 1.5, 2.0, 3.0, 4.0, 5.0)]


def main() -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app_pages" / "main.py"), default_timeout=120).run()
    cold = dict(at.session_state["timings"])  # a session's first run: it stops after the headline
    at.run()  # what the browser's fragment timer does next: the whole page
    whole = dict(at.session_state["timings"])
    rows = []
    for key, value in MOVES:
        at.select_slider(key=key).set_value(value).run()
        assert not at.exception, at.exception
        rows.append(dict(at.session_state["timings"]))
    print("first run of a session, headline only (ms, cumulative):", {k: round(v) for k, v in cold.items()})
    print("then the whole page (ms, cumulative):", {k: round(v) for k, v in whole.items()})
    print(f"after a slider move, median of {len(rows)} (ms, cumulative):")
    for stage in rows[0]:
        print(f"  {stage:12s} {statistics.median(r[stage] for r in rows):7.0f}")


if __name__ == "__main__":
    main()
