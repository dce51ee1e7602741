"""The machine a benchmark ran on, the results of every run kept in ``instance/bench/results.json``, and their
tables written into ``docs/PERFORMANCE.md`` between two markers (the text around them is kept as written)."""

from __future__ import annotations

import json
import os
import platform
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


def save_result(path: Path, name: str, result: dict) -> dict:
    results = load_results(path)
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
    keys: dict[str, str] = {}
    for name in columns:
        for page in results[name]["pages"]:
            keys.setdefault(page["key"], page["label"])
    lines = ["### Queries per request at each scale", "",
             "| page | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for key, label in keys.items():
        cells = [next((str(p["queries"]) for p in results[name]["pages"] if p["key"] == key), "-")
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
