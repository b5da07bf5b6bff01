"""The Models page's serving section: the champion's bench-model profile and the config applied from it."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from reviewqueue.domain.permissions import Actor
from reviewqueue.domain.states import Role
from reviewqueue.services import model_bench
from tests.ui.helpers import shown, sign_in, texts

ADMIN = Actor(0, "cli:test", Role.ADMIN, ())


def test_models_page_shows_the_measured_profile_and_the_applied_config(app: AppTest, ctx: Any,
                                                                       people: Any) -> None:
    at = sign_in(app, "data_scientist", "data_scientist-pw")
    at.switch_page("views/models.py").run()
    assert not at.exception
    assert "Not measured yet: run reviewqueue bench-model fraud on the serving host." in texts(at)

    model_bench.bench_model(ctx, ADMIN, "fraud", sample=16, batch_sizes=(1, 8), cores=1, frameworks=False,
                              min_seconds=0.01)
    applied = model_bench.apply_config(ctx, ADMIN, "fraud", 1)
    at.run()
    assert not at.exception
    [section] = [e for e in at.expander if e.label == "Serving on this hardware (v1)"]
    said = "\n".join(shown(c.value) for c in section.caption)
    assert f"Serves with {applied['name']}: {applied['model_file']} on CPUExecutionProvider, 1 thread(s)" in said
    assert "on 16 inputs (16 rows of the base dataset)" in said and "Fastest passing:" in said
    [table] = section.dataframe
    # fraud's gradient-boosted trees have nothing for dynamic quantisation to act on: int8 is skipped, saying so
    assert list(table.value["configuration"]) == ["CPU fp32, 1 thread(s)"]
    assert list(table.value["parity"]) == ["passes"]
    assert "Not measured: cpu-int8-1t: nothing to quantise in this graph" in said
    assert "larger than the" not in said  # batches 1 and 8 on 16 inputs: every cell measured
    model_bench.bench_model(ctx, ADMIN, "fraud", sample=4, batch_sizes=(1, 8), cores=1, frameworks=False,
                            min_seconds=0.01)
    at.run()
    [section] = [e for e in at.expander if e.label == "Serving on this hardware (v1)"]
    assert "Not measured: rows/s at batch 8, larger than the 4 inputs measured on" in \
        "\n".join(shown(c.value) for c in section.caption)
    assert {"rows/s @1", "rows/s @8", "p50 ms", "routes changed"} <= set(table.value.columns)
