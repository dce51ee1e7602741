"""The machine a benchmark ran on, the results of every run kept in ``instance/bench/results.json``, and their
tables written into ``docs/PERFORMANCE.md`` between two markers (the text around them is kept as written).

The document is the lasting record: ``instance/`` is not committed, so a fresh checkout has no results.json. The runs
already written in the document are read back from it (``runs_in_doc``) and kept beside the new one, so measuring
SQLite at city scale on a new machine does not drop the PostgreSQL tables measured earlier.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"


def _first(path: str, prefix: str) -> str:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return "unknown"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(prefix)), "unknown")


def _tool_version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)  # noqa: S603 - fixed
    except OSError:
        return "not installed"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else "?"


def machine(database_version: str) -> dict:
    memory_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    return {"cpu": _first("/proc/cpuinfo", "model name"), "cores": os.cpu_count(),
            "ram_gb": round(int(memory_kb) / 1024 / 1024, 1) if memory_kb.isdigit() else "?",
            "os": _os_name(), "python": platform.python_version(), "database": database_version,
            "ab": _tool_version(["ab", "-V"]).replace("This is ", "").replace(" <$Revision$>", ""),
            "gunicorn": _tool_version([str(Path(sys.executable).with_name("gunicorn")), "--version"])}


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def load_results(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def save_result(path: Path, name: str, result: dict, *, earlier: dict | None = None) -> dict:
    """Record ``result`` as the run ``name`` beside the runs in ``path`` and ``earlier`` (read from the document;
    those in ``path`` win), and return them all."""
    results = (earlier or {}) | load_results(path)
    results[name] = result
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2, sort_keys=True))
    return results


def _run_section(name: str, run: dict) -> list[str]:
    m, gen, load = run["machine"], run["generation"], run["loadavg"]
    busy = " **(busy machine: other jobs were running, the numbers are noisy)**" if max(load["before"]) > \
        0.5 * (m["cores"] or 1) else ""
    lines = [f"### {name}: {run['database']} at {run['scale']} scale, {run['date']}", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['os']}, Python {m['python']}, "
             f"{m['database']}, {m['gunicorn']} (4 workers), {m['ab']}.", "",
             f"Load average (1, 5, 15 min) before: {', '.join(map(str, load['before']))}; after: "
             f"{', '.join(map(str, load['after']))}{busy}.", "",
             f"Rows: {', '.join(f'{k} {v:,}' for k, v in run['rows'].items())}.", "",
             f"Generation: {gen}.", "",
             f"ab: {run['requests']} requests per page at concurrency {run['concurrency']} (60 s at most per page), "
             "after 20 warm-up requests.", "",
             "| page | URL | queries / request | requests / s | p50 ms | p95 ms | non-2xx |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for page in run["pages"]:
        lines.append(f"| {page['label']} | `{page['url']}` | {page['queries']} | {page['rps']:.1f} | "
                     f"{page['p50']:.0f} | {page['p95']:.0f} | {page['non_2xx']} |")
    pdf = run["contract_pdf"]
    lines += ["", f"Contract PDF: first issue (render with WeasyPrint and store) {pdf['first'] * 1000:.0f} ms; "
              f"the stored copy served again {pdf['cached'] * 1000:.0f} ms (in-process, one request).", ""]
    return lines


def _query_table(results: dict) -> list[str]:
    columns = sorted(results)
    labels = list(dict.fromkeys(page["label"] for name in columns for page in results[name]["pages"]))
    lines = ["### Queries per request at each scale", "",
             "| page | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for label in labels:
        cells = [next((str(p["queries"]) for p in results[name]["pages"] if p["label"] == label), "-")
                 for name in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def render(results: dict) -> str:
    lines = [START, "", *_query_table(results)]
    for name in sorted(results):
        lines += _run_section(name, results[name])
    return "\n".join([*lines, END])


def write_doc(doc: Path, results: dict) -> None:
    """Replace the block between the markers (or append one) with the tables of every run."""
    text = doc.read_text() if doc.exists() else "# Performance\n\n"
    block = render(results)
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text)


# --- Reading the runs back from the document ------------------------------------------------------------------------

_HEADER = re.compile(r"^### (?P<name>[\w-]+): (?P<database>\w+) at (?P<scale>\w+) scale, (?P<date>.+)$")
_MACHINE = re.compile(r"^Machine: (?P<cpu>.+?), (?P<cores>\d+) cores, (?P<ram_gb>[\d.?]+) GB RAM, (?P<os>.+?), "
                      r"Python (?P<python>\S+), (?P<database>.+), (?P<gunicorn>.+?) \(4 workers\), (?P<ab>.+)\.$")
_LOAD = re.compile(r"^Load average \(1, 5, 15 min\) before: (?P<before>[\d., ]+); after: (?P<after>[\d., ]+?)"
                   r"(?: \*\*\(busy machine.*)?\.?$")
_AB = re.compile(r"^ab: (?P<requests>\d+) requests per page at concurrency (?P<concurrency>\d+) ")
_PAGE = re.compile(r"^\| (?P<label>.+?) \| `(?P<url>[^`]+)` \| (?P<queries>\d+) \| (?P<rps>[\d.]+) \| "
                   r"(?P<p50>\d+) \| (?P<p95>\d+) \| (?P<non_2xx>\d+) \|$")
_PDF = re.compile(r"^Contract PDF: first issue .*? (?P<first>\d+) ms; the stored copy served again (?P<cached>\d+) ms")


def _numbers(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def _read_section(header: re.Match, lines: list[str]) -> dict:
    run: dict = {"database": header["database"], "scale": header["scale"], "date": header["date"], "pages": [],
                 "finished": None}
    for line in lines:
        if match := _MACHINE.match(line):
            machine = match.groupdict()
            machine["cores"] = int(machine["cores"])
            machine["ram_gb"] = float(machine["ram_gb"]) if machine["ram_gb"] != "?" else "?"
            run["machine"] = machine
        elif match := _LOAD.match(line):
            run["loadavg"] = {"before": _numbers(match["before"]), "after": _numbers(match["after"])}
        elif line.startswith("Rows: "):
            run["rows"] = {k: int(v.replace(",", "")) for k, v in re.findall(r"(\w+) (\d[\d,]*)", line[6:])}
        elif line.startswith("Generation: "):
            run["generation"] = line.removeprefix("Generation: ").removesuffix(".")
        elif match := _AB.match(line):
            run["requests"], run["concurrency"] = int(match["requests"]), int(match["concurrency"])
        elif match := _PAGE.match(line):
            page = match.groupdict()
            run["pages"].append({"label": page["label"], "url": page["url"], "queries": int(page["queries"]),
                                 "rps": float(page["rps"]), "p50": float(page["p50"]), "p95": float(page["p95"]),
                                 "non_2xx": int(page["non_2xx"])})
        elif match := _PDF.match(line):
            run["contract_pdf"] = {"first": int(match["first"]) / 1000, "cached": int(match["cached"]) / 1000}
    missing = {"machine", "loadavg", "rows", "generation", "requests", "contract_pdf"} - set(run)
    if missing or not run["pages"]:
        raise ValueError(f"the section of {header['name']} in the document lacks {sorted(missing) or 'pages'}")
    return run


def runs_in_doc(doc: Path) -> dict:
    """The runs whose sections ``render`` wrote into ``doc`` (none if it has no block), as ``save_result`` keeps
    them; what the document rounds (milliseconds, requests per second) comes back rounded."""
    text = doc.read_text() if doc.exists() else ""
    if START not in text or END not in text:
        return {}
    block = text.split(START, 1)[1].split(END, 1)[0].splitlines()
    runs, header, body = {}, None, []
    for line in [*block, "### end"]:
        if line.startswith("### "):
            if header is not None:
                runs[header["name"]] = _read_section(header, body)
            header, body = _HEADER.match(line), []
        elif header is not None:
            body.append(line)
    return runs
