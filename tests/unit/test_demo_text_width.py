"""The demo's text is never cut inside a word: labels shortened at a word boundary with an ellipsis, the summary's
outcomes wrapped under their column."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from demo.summary import summary_lines
from demo.text_width import shorten, wrap

WORDS = st.lists(st.text("abcdefghij→%,()", min_size=1, max_size=12), min_size=1, max_size=30).map(" ".join)


def test_shorten_keeps_whole_words_and_marks_the_cut() -> None:
    assert shorten("start Azurite + local platform", 40) == "start Azurite + local platform"
    assert shorten("pending → endpoint → creating → provisioning", 30) == "pending → endpoint → creating…"
    assert shorten("share of drifted features (credit_limit, age)", 40) == "share of drifted features…"
    assert shorten("abcdefghijklmnop", 6) == "abcde…"  # one word longer than the width: no boundary to cut at


@given(WORDS, st.integers(min_value=8, max_value=80))
@example(",, aaaaaa", 8)
def test_a_shortened_text_is_its_own_first_whole_words(text: str, width: int) -> None:
    out = shorten(text, width)
    assert len(out) <= width
    words = text.split()
    if out == text or len(words[0]) > width - 1:
        return
    kept = out.removesuffix("…").split()
    if not kept:  # the first word was only the punctuation a cut leaves dangling, and went with it
        assert set(words[0]) <= set(",;:(")
        return
    assert kept[:-1] == words[: len(kept) - 1]
    last = words[len(kept) - 1] if kept else ""
    # the last word kept is whole; only the punctuation a cut leaves dangling (a comma, a parenthesis) goes
    assert not kept or (last.startswith(kept[-1]) and set(last[len(kept[-1]) :]) <= set(" ,;:("))


@given(WORDS, st.integers(min_value=12, max_value=80))
def test_wrapping_loses_no_word_and_cuts_none(text: str, width: int) -> None:
    lines = wrap(text, width)
    assert " ".join(lines).split() == text.split()
    assert all(len(line) <= width or " " not in line for line in lines)


def record(outcome: str) -> dict:
    return {
        "stages": [{"name": "safe rollout v2 (live traffic)", "seconds": 14.8, "ok": True, "outcome": outcome}],
        "traffic": {"requests": 743, "records": 14586, "by_deployment": {"v2-94aba1": 210}},
        "status": "succeeded",
        "total_seconds": 129.4,
        "artefacts": {"folder": "out/demo/20261202T010509Z-3f9a"},
    }


def test_the_summary_wraps_a_long_outcome_under_its_column() -> None:
    outcome = (
        "v2-94aba1 serves {'v2-94aba1': 100} (pending → endpoint → creating → provisioning → smoke_test → "
        "traffic → retiring → succeeded)"
    )
    lines = summary_lines(record(outcome), latest="also out/demo/latest")
    rows = lines[3:-1]
    assert len(rows) == 2
    column = rows[0].index("v2-94aba1")
    assert rows[1][:column].strip() == "" and rows[1][column] != " "
    assert " ".join(row[column:] for row in rows).split() == outcome.split()
    assert lines[-1].endswith("artefacts in out/demo/20261202T010509Z-3f9a/ (also out/demo/latest)")
