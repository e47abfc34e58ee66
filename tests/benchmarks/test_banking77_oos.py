"""benchmarks/banking77_oos.py --labels source: requests get their intent from the source
BANKING77 file, on small files written here (no dataset needed)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("banking77_oos")


def write_split(folder: Path, rows: list[tuple[str, str]]) -> None:
    folder.mkdir(parents=True)
    (folder / "seq.in").write_text("".join(f"{t}\n" for t, _ in rows), encoding="utf-8")
    (folder / "label").write_text("".join(f"{label}\n" for _, label in rows), encoding="utf-8")


SOURCE = """text,category
Where is my card?,card_arrival
My card has not come yet,card_arrival
How do I link my card?,card_linking
Can I add a card I already have?,card_linking
The ATM kept my card,card_swallowed
My card got stuck in the machine,card_swallowed
"Why was I charged twice, please?",transaction_charged_twice
"""


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """A BANKING77-OOS layout whose label files are out of step with their texts the way
    the real one is: the first request of a block carries the block's intent but is the
    intent before it (or an unsupported one)."""
    data = tmp_path / "b77"
    write_split(
        data / "train",
        [
            ("Where is my card?", "card_arrival"),
            ("My card has not come yet", "card_arrival"),
            ("The ATM kept my card", "card_linking"),  # card_swallowed: not supported
            ("How do I link my card?", "card_linking"),
        ],
    )
    write_split(
        data / "valid",
        [
            ("How do I link my card?", "card_arrival"),  # card_linking, shifted
            ("Can I add a card I already have?", "card_linking"),
            ("A request the source lacks", "card_linking"),
        ],
    )
    write_split(data / "id-oos" / "train", [("Why was I charged twice, please?", "oos")])
    write_split(
        data / "id-oos" / "valid",
        [("My card has not come yet", "oos"), ("My card got stuck in the machine", "oos")],
    )
    write_split(data / "ood-oos" / "valid", [("What is the weather?", "oos")])
    (tmp_path / "train.csv").write_text(SOURCE, encoding="utf-8")
    return tmp_path


def test_relabel_gives_each_request_its_source_intent(bench: ModuleType, layout: Path) -> None:
    data = bench.load(layout / "b77", "valid")
    counts = bench.relabel(data, bench.source_labels(layout / "train.csv"))

    assert data["train"] == (
        ["Where is my card?", "My card has not come yet", "How do I link my card?"],
        ["card_arrival", "card_arrival", "card_linking"],
    )
    # An unsupported intent (card_swallowed) and one that is not among train's intents
    # (transaction_charged_twice) are out of scope.
    assert data["id_train"][0] == ["The ATM kept my card", "Why was I charged twice, please?"]
    assert data["valid"] == (
        [
            "How do I link my card?",
            "Can I add a card I already have?",
            "A request the source lacks",
            "My card has not come yet",  # was on the out-of-scope side
        ],
        ["card_linking", "card_linking", "card_linking", "card_arrival"],
    )
    assert data["id_valid"][0] == ["My card got stuck in the machine"]
    # What is scored is the relabelled valid split.
    assert data["eval"] is data["valid"] and data["id_eval"] is data["id_valid"]
    assert data["ood_eval"][0] == ["What is the weather?"]
    assert counts == {
        "train": {"relabelled": 1, "not_in_source": 0},
        "valid": {"relabelled": 2, "not_in_source": 1},
    }


def test_source_errors_name_the_problem(bench: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(bench.DataError, match=r"missing .*train\.csv"):
        bench.source_labels(tmp_path / "train.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("utterance,intent\nhi,greet\n", encoding="utf-8")
    with pytest.raises(bench.DataError, match="expected the columns text and category"):
        bench.source_labels(wrong)
    twice = tmp_path / "twice.csv"
    twice.write_text("text,category\nHi,a\nhi ,b\n", encoding="utf-8")
    with pytest.raises(bench.DataError, match="two intents"):
        bench.source_labels(twice)


def test_cli_reports_a_missing_source_without_a_traceback(
    bench: ModuleType, layout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = bench.main(
        ["--data", str(layout / "b77"), "--labels", "source", "--source", str(layout / "nope.csv")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "nope.csv" in err and "--labels shipped" in err and "Traceback" not in err


def test_a_run_on_source_labels_also_scores_the_shipped_ones(
    bench: ModuleType, layout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = bench.main(
        [
            "--data",
            str(layout / "b77"),
            "--source",
            str(layout / "train.csv"),
            "--wordllama-dim",
            "0",
            "--latency-queries",
            "3",
        ]
    )
    assert code == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["labels"] == "source"
    assert figures["relabelled"]["valid"] == {"relabelled": 2, "not_in_source": 1}
    assert figures["eval_in_scope"] == 4
    shipped = figures["on_shipped_labels"]
    # "How do I link my card?" is card_linking in the source and card_arrival as shipped:
    # one prediction cannot be right against both.
    assert 0.0 <= shipped["in_scope_accuracy"] <= 1.0
    assert not (shipped["in_scope_accuracy"] == 1.0 and figures["in_scope_accuracy"] == 1.0)
