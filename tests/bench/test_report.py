"""The benchmark's record: the tables written into docs/PERFORMANCE.md can be read back, so a run on a fresh checkout
(no instance/bench/results.json) keeps the runs measured earlier instead of dropping their tables."""

from __future__ import annotations

import json

import pytest

from bench.report import END, START, render, runs_in_doc, save_result, write_doc
from portal.config import PROJECT_ROOT

MACHINE = {"cpu": "AMD EPYC, model 7", "cores": 2, "ram_gb": 23.5, "os": "Debian GNU/Linux 12 (bookworm)",
           "python": "3.11.7", "database": "SQLite 3.40.1", "gunicorn": "gunicorn (version 23.0.0)",
           "ab": "ApacheBench, Version 2.3"}


def run(database: str, scale: str, *, p50: float = 41.6, busy: bool = False) -> dict:
    return {"database": database, "scale": scale, "date": "2026-11-29 17:04 UTC", "machine": MACHINE,
            "loadavg": {"before": [1.5 if busy else 0.12, 0.3, 0.25], "after": [2.0, 1.1, 0.5]},
            "rows": {"bids": 2_000_123, "tenders": 200_013}, "generation": "2,000 tenders (20,000 bids) in 18.2 s",
            "requests": 200, "concurrency": 8, "finished": None,
            "pages": [{"label": "public statistics", "url": "/statistics", "queries": 9, "rps": 53.7,
                       "p50": p50, "p95": 173.0, "non_2xx": 0},
                      {"label": "tender page | awarded", "url": "/tenders/14", "queries": 12, "rps": 204.1,
                       "p50": 39.0, "p95": 46.0, "non_2xx": 1}],
            "contract_pdf": {"first": 0.306, "cached": 0.009}}


def test_the_runs_written_into_the_document_are_read_back(tmp_path):
    doc = tmp_path / "PERFORMANCE.md"
    doc.write_text("# Performance\n\nText kept as written.\n\n" + START + "\n" + END + "\n\nAnd after.\n")
    written = {"sqlite-city": run("sqlite", "city"), "postgresql-province": run("postgresql", "province", busy=True)}
    write_doc(doc, written)
    read = runs_in_doc(doc)
    assert sorted(read) == ["postgresql-province", "sqlite-city"]
    assert read["sqlite-city"]["machine"] == MACHINE and read["sqlite-city"]["rows"] == {"bids": 2_000_123,
                                                                                          "tenders": 200_013}
    assert read["sqlite-city"]["pages"][0]["p50"] == 42  # rounded to the millisecond, as the document shows it
    assert read["postgresql-province"]["loadavg"] == written["postgresql-province"]["loadavg"]
    assert read["postgresql-province"]["contract_pdf"] == {"first": 0.306, "cached": 0.009}
    before = doc.read_text()
    write_doc(doc, read)
    assert doc.read_text() == before
    assert before.startswith("# Performance\n\nText kept as written.") and before.endswith("And after.\n")


def test_a_new_run_is_kept_beside_the_documented_ones_and_results_json_wins(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"sqlite-city": run("sqlite", "city", p50=50.0)}))
    earlier = {"sqlite-city": run("sqlite", "city", p50=99.0), "postgresql-city": run("postgresql", "city")}
    kept = save_result(results, "postgresql-province", run("postgresql", "province"), earlier=earlier)
    assert sorted(kept) == ["postgresql-city", "postgresql-province", "sqlite-city"]
    assert kept["sqlite-city"]["pages"][0]["p50"] == 50.0
    assert json.loads(results.read_text()) == kept


def test_a_document_without_results_has_no_runs_and_a_damaged_section_is_refused(tmp_path):
    doc = tmp_path / "PERFORMANCE.md"
    assert runs_in_doc(doc) == {}
    doc.write_text("# Performance\n")
    assert runs_in_doc(doc) == {}
    doc.write_text(render({"sqlite-city": run("sqlite", "city")}).replace("Contract PDF: first issue", "PDF:"))
    with pytest.raises(ValueError, match="sqlite-city.*contract_pdf"):
        runs_in_doc(doc)


def test_the_performance_document_of_the_repository_reads_back_whole():
    doc = PROJECT_ROOT / "docs" / "PERFORMANCE.md"
    runs = runs_in_doc(doc)
    assert runs and all(r["pages"] for r in runs.values())
    block = START + doc.read_text().split(START, 1)[1].split(END, 1)[0] + END
    assert render(runs) == block
