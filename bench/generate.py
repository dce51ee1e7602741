"""Generate a benchmark database: ``python -m bench.generate --scale city|province --database-url URL``.

City scale is 2,000 tenders and 20,000 bids, province scale 200,000 tenders and 2,000,000 bids, with their
projects, notices, committees and scores, awards, contracts, installments and reviews (``bench.tenders``), plus
one showcase tender of 100 bids x 9 experts x 20 criteria. Rows go in with SQLAlchemy Core executemany and
explicit ids, one transaction per chunk of tenders; a chunk is whole or absent, so a stopped run continues after
the last complete chunk when started again. Each chunk appends one audit entry, so the chain still verifies."""

from __future__ import annotations

import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import sqlalchemy as sa
from flask_migrate import upgrade

from bench import tenders as bench_tenders
from bench.tenders import SHOWCASE, Ids, TenderRows
from bench.world import build_world, insert, load_world
from portal import audit
from portal.db import utcnow
from portal.extensions import db
from portal.tenders.models import Tender


@dataclass(frozen=True)
class Scale:
    tenders: int
    bureaus: int  # bench district bureaus under the city
    ngos: int  # at least 100: the showcase tender has 100 bidders
    experts: int
    chunk: int  # tenders per transaction


SCALES = {
    "tiny": Scale(tenders=30, bureaus=2, ngos=100, experts=12, chunk=10),
    "city": Scale(tenders=2_000, bureaus=6, ngos=300, experts=40, chunk=200),
    "province": Scale(tenders=200_000, bureaus=40, ngos=3_000, experts=400, chunk=1_000),
}

# Insert order: every table after the tables it points to.
TABLES = ("service_projects", "tenders", "notices", "tender_criteria", "tender_requirements", "bids", "awards",
          "contracts", "contract_installments", "reviews", "evaluation_committees", "committee_members",
          "qualification_checks", "score_sheets", "scores")
SEQUENCED = ("organisations", "users", *TABLES)


def table(name: str) -> sa.Table:
    return db.metadata.tables[name]


def tenders_done() -> int:
    """How many bench tenders exist: their numbers run from 0 without gaps (whole chunks only)."""
    last = db.session.scalar(sa.select(sa.func.max(Tender.reference)).where(Tender.reference.like("BM-0%")))
    return int(last.removeprefix("BM-")) + 1 if last else 0


def sync_sequences(names=SEQUENCED) -> None:
    """PostgreSQL: move each id sequence past the explicit ids the bench inserted."""
    if db.engine.dialect.name != "postgresql":
        return
    for name in names:
        highest = db.session.scalar(sa.select(sa.func.max(table(name).c.id))) or 1
        db.session.execute(sa.select(sa.func.setval(sa.func.pg_get_serial_sequence(name, "id"), highest)))


def write(rows: TenderRows) -> None:
    """Insert the collected rows table by table, then name each committee's chair."""
    for name in TABLES:
        insert(table(name), rows.rows.get(name, []))
        if name == "committee_members" and rows.chairs:
            committees = table("evaluation_committees")
            db.session.execute(committees.update().where(committees.c.id == sa.bindparam("b_committee"))
                               .values(chair_id=sa.bindparam("b_chair")),
                               [{"b_committee": c["committee_id"], "b_chair": c["chair_id"]} for c in rows.chairs])


def new_rows(world, now) -> TenderRows:
    start = {name: (db.session.scalar(sa.select(sa.func.max(table(name).c.id))) or 0) + 1 for name in TABLES}
    return TenderRows(world, Ids(start), now)


def prepare(scale: Scale, *, demo: bool, now) -> None:
    """Schema, the fixed world and the showcase tender, committed once."""
    upgrade()
    build_world(bureaus=scale.bureaus, ngos=scale.ngos, experts=scale.experts, demo=demo, now=now)
    if db.session.scalar(sa.select(Tender.id).where(Tender.reference == SHOWCASE)) is None:
        world = load_world()
        rows = new_rows(world, now)
        bench_tenders.showcase(rows, world.bureaus[0])
        write(rows)
        audit.record("bench.showcase", ("bench", SHOWCASE), new={"tender": SHOWCASE}, now=now)
    sync_sequences()
    db.session.commit()


def write_chunk(world, numbers: range, now) -> None:
    """One transaction: the tenders numbered ``numbers`` with everything they hold, and one audit entry."""
    rows = new_rows(world, now)
    for n in numbers:
        bench_tenders.tender(rows, n)
    write(rows)
    audit.record("bench.generated", ("bench", f"{numbers.start}-{numbers.stop - 1}"),
                 new={"tenders": len(numbers), "bids": len(rows.rows["bids"])}, now=now)
    sync_sequences(TABLES)
    db.session.commit()


@dataclass
class Report:
    before: int  # tenders already there when this run started
    written: int
    seconds: float
    total: int

    @property
    def rate(self) -> float:
        return self.written / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        left = self.total - self.before - self.written
        projected = f"; {left} left, about {left / self.rate / 60:.1f} min more at this rate" if left and self.rate \
            else ""
        return (f"{self.written} tenders ({self.written * bench_tenders.BIDS} bids) in {self.seconds:.1f} s: "
                f"{self.rate:.1f} tenders/s{projected}")


def refresh_statistics() -> None:
    """ANALYZE after a bulk load, as autovacuum would do in time: the planner's row estimates otherwise stay those of
    the empty tables (one statistics query took 0.45 s instead of 0.02 s on PostgreSQL at city scale)."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))


def generate(scale: Scale, *, demo: bool = True, max_chunks: int | None = None, progress: bool = True) -> Report:
    """Fill the app's database up to ``scale`` (inside an app context), resuming after the last whole chunk."""
    now = utcnow()
    prepare(scale, demo=demo, now=now)
    world = load_world()
    before = tenders_done()
    chunks = [range(start, min(start + scale.chunk, scale.tenders))
              for start in range(before, scale.tenders, scale.chunk)][:max_chunks]
    started = time.perf_counter()
    with click.progressbar(length=sum(map(len, chunks)), label=f"tenders {before}+", show_pos=True,
                           show_eta=True, file=None if progress else io.StringIO()) as bar:
        for numbers in chunks:
            write_chunk(world, numbers, now)
            bar.update(len(numbers))
    refresh_statistics()
    return Report(before, sum(map(len, chunks)), time.perf_counter() - started, scale.tenders)


@click.command()
@click.option("--scale", "scale_name", type=click.Choice(sorted(SCALES)), default="city", show_default=True)
@click.option("--database-url", required=True, help="SQLAlchemy URL of the benchmark database")
@click.option("--instance", default="instance/bench", show_default=True,
              help="folder for the keys (the runner's gunicorn must use the same one)")
@click.option("--max-chunks", type=int, default=None, help="stop after this many chunks (resume later)")
@click.option("--report-json", type=click.Path(dir_okay=False), default=None, help="write the timings here")
def main(scale_name: str, database_url: str, instance: str, max_chunks: int | None, report_json: str | None) -> None:
    """Generate (or complete) a benchmark database."""
    from bench.app import bench_app

    app = bench_app(database_url, instance)
    with app.app_context():
        report = generate(SCALES[scale_name], max_chunks=max_chunks)
        counts = {name: db.session.scalar(sa.select(sa.func.count()).select_from(table(name)))
                  for name in ("tenders", "bids", "contracts", "scores")}
    click.echo(report.summary())
    click.echo(", ".join(f"{name}: {count}" for name, count in counts.items()))
    if report_json:
        Path(report_json).write_text(json.dumps(asdict(report) | {"summary": report.summary(), "rows": counts}))


if __name__ == "__main__":
    main()
