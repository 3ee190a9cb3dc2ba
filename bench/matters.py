"""Benchmark of the one-stop window over 1,000,000 generated matters (issue 3, Done-when item 6).

    .venv/bin/python bench/matters.py                                   # SQLite only
    .venv/bin/python bench/matters.py --pg postgresql://postgres@127.0.0.1:5432/postgres

For each database: a fresh database (temp dir for SQLite; scratch database ``whistle_bench_matters``
on the PostgreSQL server, dropped afterwards), ``portal db migrate`` + ``portal demo load``, then
``bench/generate_matters.py`` (1 M matters over the demo centers, counters included), then one
granian worker on 127.0.0.1 serving ``portal.asgi:app`` with the ``bench.bench_module`` plugin.
Signs in over HTTP as ``gzq_admin`` (district, sees all matters) and ``dmz_window`` (a township),
walks each one's queue from page 1 to page 1,000 by its "next page" links (keyset ``after=``), checks
every route answers what it should, then runs interleaved rounds of wrk on:

  A      /healthz                      bare route (the floor)
  M      /bench/matters                the queue page of gzq_admin rendered from memory (no DB)
  Q1     /matters                      gzq_admin, page 1 (20 rows + capped count)
  Q1000  /matters?after=<id>           gzq_admin, page 1,000
  T1     /matters                      dmz_window, page 1
  T1000  /matters?after=<id>           dmz_window, page 1,000
  N      /numbers                      gzq_admin: all 10 centers, this month so far, from the counters
  NY     /numbers?from=…&to=…          the same for the last 365 days (information, no target)

(per round: each at -c32 for 10 s after a 2 s warm-up, then each at -c1 for 5 s), then rounds of
W: ``POST /matters/new`` as ``dmz_window`` at -c32 (the real form: CSRF token, a fresh submission
key and phone number per request; wrk script bench/matters_post.lua; only a 303 counts as success).
Every wrk run is bounded; any other answer or socket error aborts. Afterwards the matters created
must equal the 303 answers, and the server log must show no error ("database is locked" included).
Results go into bench/RESULTS.md between ``<!-- matters -->`` and ``<!-- /matters -->`` (below the
issue-2 section's analysis marker, so bench/run.py keeps them), with the command line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402  (the issue-2 benchmark's helpers: same server, sign-in, wrk JSON)
    BENCH,
    HOST,
    LUA,
    VENV_BIN,
    BenchError,
    Database,
    Server,
    base_env,
    http_request,
    log,
    machine_info,
    pg_admin,
    prepare_run,
    run_checked,
    run_databases,
    sign_in,
)

POST_LUA = BENCH / "matters_post.lua"
PG_DB = "whistle_bench_matters"
START, END = "<!-- matters -->", "<!-- /matters -->"

READS = {
    "A": ("/healthz", "admin", "bare route (text/plain, no session)"),
    "M": ("/bench/matters", "admin", "gzq_admin's queue page 1 from memory (no session, no DB)"),
    "Q1": ("/matters", "admin", "gzq_admin (district, all matters): page 1, 20 rows + count"),
    "Q1000": ("/matters?after={admin}", "admin", "gzq_admin: page 1,000 reached by keyset"),
    "T1": ("/matters", "township", "dmz_window (township + 2 villages): page 1"),
    "T1000": ("/matters?after={township}", "township", "dmz_window: page 1,000 reached by keyset"),
    "N": ("/numbers", "admin", "gzq_admin: numbers of all 10 centers (default period: this month so far)"),
    "NY": ("/numbers?from={year_ago}&to={today}", "admin", "gzq_admin: the same for the last 365 days (no target)"),
}
USERS = {"admin": "gzq_admin", "township": "dmz_window"}
WRITER = "township"

# Targets of issue 3, Done-when item 6.
T_P50_MS, T_P99_MS = 5.0, 10.0  # (a) queue, single client
T_DEEP = 0.9  # (b) page 1,000 / page 1 req/s
T_VS_MEMORY = 0.5  # (c) queue / in-memory page req/s
T_NUMBERS_MS = 20.0  # (d) numbers page, single client (p99)
T_WRITE_P99_MS = 100.0  # (e) registration, 32 clients, SQLite

ROW_LINK = re.compile(r'href="/matters/(\d+)" class="code"')
NEXT_LINK = re.compile(r'href="/matters\?after=(\d+)"')


# ----------------------------------------------------------------------------- databases


def prepare_sqlite(tmp: Path) -> Database:
    data_dir = tmp / "data"
    data_dir.mkdir()
    return Database("SQLite", {"PORTAL_DATA_DIR": str(data_dir)}, version=f"SQLite {sqlite3.sqlite_version}")


def prepare_postgres(admin_url: str, tmp: Path) -> Database:
    parts = urllib.parse.urlsplit(admin_url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise BenchError(f"--pg must point at a local server, not {parts.hostname!r}")
    bench_url = urllib.parse.urlunsplit(parts._replace(path=f"/{PG_DB}"))
    version = pg_admin(
        admin_url,
        [f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)', f'CREATE DATABASE "{PG_DB}"'],
        fetch="SHOW server_version",
    )
    settings = pg_admin(admin_url, [], fetch="SELECT current_setting('shared_buffers') || ' shared_buffers, ' || "
                        "current_setting('work_mem') || ' work_mem'")
    data_dir = tmp / "data"
    data_dir.mkdir()
    db = Database("PostgreSQL", {"PORTAL_DATA_DIR": str(data_dir), "PORTAL_DATABASE_URL": bench_url},
                  version=f"PostgreSQL {version}, {settings}")
    db.cleanup.append(lambda: pg_admin(admin_url, [f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)']))
    return db


def count_matters(db: Database) -> int:
    url = db.env.get("PORTAL_DATABASE_URL")
    if url:
        return int(pg_admin(url, [], fetch="SELECT count(*) FROM matter"))
    path = Path(db.env["PORTAL_DATA_DIR"]) / "portal.sqlite3"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT count(*) FROM matter").fetchone()[0]
    finally:
        conn.close()


# ----------------------------------------------------------------------------- wrk


def wrk(port: int, path: str, cookie: str, connections: int, seconds: float, *, script: Path = LUA,
        extra_env: dict[str, str] | None = None, expect_created: bool = False) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script),
           f"http://{HOST}:{port}{path}"]
    env = dict(os.environ, BENCH_COOKIE=cookie, **(extra_env or {}))
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 30, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk on {path} did not finish within {seconds + 30:.0f} s") from exc
    if proc.returncode != 0:
        raise BenchError(f"wrk on {path} failed ({proc.returncode}): {proc.stderr} {proc.stdout[-2000:]}")
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        raise BenchError(f"wrk on {path} printed no summary:\n{proc.stdout}")
    result = json.loads(line)
    errors = {k: v for k, v in result.items() if (k.startswith("err_") or k in ("non2xx", "first_bad_status")) and v}
    if errors or result["requests"] == 0 or (expect_created and result["created"] == 0):
        raise BenchError(f"wrk on {path} (c={connections}): {errors or 'no requests'} — measurement rejected")
    return result


# ----------------------------------------------------------------------------- checks


def get_page(port: int, path: str, cookie: str) -> str:
    status, headers, body = http_request(port, "GET", path, {"Cookie": cookie})
    if status != 200:
        raise BenchError(f"GET {path} answered {status} (location {headers.get('location')})")
    return body.decode("utf-8", "replace")


def walk_to_page_1000(port: int, cookie: str, who: str) -> tuple[int, float]:
    """Follow "next page" from page 1 to page 1,000; returns page 1,000's ``after`` and the time taken."""
    started = time.monotonic()
    path, last_id, after = "/matters", None, None
    for page in range(1, 1001):
        html = get_page(port, path, cookie)
        ids = [int(x) for x in ROW_LINK.findall(html)]
        if len(ids) != 20 or ids != sorted(ids, reverse=True) or (last_id is not None and ids[0] >= last_id):
            raise BenchError(f"{who}: page {page} ({path}) is not 20 rows newest first after {last_id}: {ids[:3]}…")
        last_id = ids[-1]
        if page == 1000:
            break
        found = NEXT_LINK.findall(html)
        if not found or int(found[-1]) != last_id:
            raise BenchError(f"{who}: page {page} has no next link after {last_id}")
        after = int(found[-1])
        path = f"/matters?after={after}"
    return after, time.monotonic() - started


def check_reads(port: int, paths: dict[str, str], cookies: dict[str, str]) -> dict[str, int]:
    sizes, pages = {}, {}
    for key, (_, who, _) in READS.items():
        html = get_page(port, paths[key], cookies[who])
        sizes[key], pages[key] = len(html.encode()), html
    if pages["A"] != "ok":
        raise BenchError(f"A answered {pages['A'][:80]!r}")
    for key in ("M", "Q1", "Q1000", "T1", "T1000"):
        ids = ROW_LINK.findall(pages[key])
        for marker in ('id="queue-results"', 'action="/logout"', "/matters?after="):
            if marker not in pages[key]:
                raise BenchError(f"{key} is not a signed-in queue page with a next page (missing {marker!r})")
        if len(ids) != 20:
            raise BenchError(f"{key} shows {len(ids)} rows, not 20")
    if ROW_LINK.findall(pages["M"]) != ROW_LINK.findall(pages["Q1"]):
        raise BenchError("M (from memory) does not show the rows Q1 shows")
    if abs(sizes["M"] - sizes["Q1"]) > 0.02 * sizes["Q1"]:
        raise BenchError(f"M ({sizes['M']} B) is not within 2 % of Q1 ({sizes['Q1']} B)")
    for key in ("N", "NY"):
        for name in ("甘州区综治中心", "大满镇综治中心", "南街社区综治中心", 'action="/logout"'):
            if name not in pages[key]:
                raise BenchError(f"{key} is not the district's numbers page (missing {name!r})")
    if pages["N"] == pages["NY"]:
        raise BenchError("NY shows the same figures as N: the period was not applied")
    return sizes


def registration_body(port: int, cookie: str, csrf: str) -> str:
    """The registration form's fields (checked against GET /matters/new), without key and phone."""
    html = get_page(port, "/matters/new", cookie)
    names = set(re.findall(r'name="([A-Za-z0-9_]+)"', html))
    needed = {"_csrf_token", "_submission_key", "channel", "kind", "category", "petitioner_name", "petitioner_phone",
              "people_count", "summary", "request"}
    if not needed <= names:
        raise BenchError(f"/matters/new lacks the fields {sorted(needed - names)}")
    fields = {
        "_csrf_token": csrf, "channel": "visit", "kind": "dispute", "category": "neighbour",
        "petitioner_name": "王建国", "petitioner_address": "甘州区大满镇新新村三社", "people_count": "1",
        "summary": "与邻居因宅基地边界发生纠纷", "request": "请求调解宅基地边界纠纷，恢复原有通道。",
        "facts": "邻户去年翻建院墙时占用了约半米宽的通道，多次协商未果。", "parties": "李某（邻居）",
        "place": "大满镇新新村三社",
    }
    unknown = set(fields) - names
    if unknown:
        raise BenchError(f"/matters/new has no fields {sorted(unknown)}")
    return urllib.parse.urlencode(fields)


# ----------------------------------------------------------------------------- one database


def measure(db: Database, args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="whistle-bench-matters-"))
    server = None
    try:
        env = base_env(db)
        log(f"{db.label}: migrate + demo load")
        run_checked([str(VENV_BIN / "portal"), "db", "migrate"], env, 180, "portal db migrate")
        run_checked([str(VENV_BIN / "portal"), "demo", "load"], env, 180, "portal demo load")
        log(f"{db.label}: generating {args.count:,} matters")
        started = time.monotonic()
        out = run_checked([str(VENV_BIN / "python"), str(BENCH / "generate_matters.py"), "--count", str(args.count)],
                          env, 900, "bench/generate_matters.py")
        gen_seconds = time.monotonic() - started
        gen_line = out.strip().splitlines()[-1]
        log(f"{db.label}: {gen_line}")
        server = Server(env, tmp / "granian.log")
        server.start()
        log(f"{db.label}: granian on {HOST}:{server.port}")
        jars = {who: sign_in(server.port, name) for who, name in USERS.items()}
        cookies = {who: f"portal_csrf={j['portal_csrf']}; portal_session={j['portal_session']}" for who, j in jars.items()}
        cursors, walks = {}, {}
        for who in USERS:
            cursors[who], walks[who] = walk_to_page_1000(server.port, cookies[who], USERS[who])
            log(f"{db.label}: {USERS[who]} page 1,000 = after={cursors[who]} (walked 999 pages in {walks[who]:.1f} s)")
        today = dt.date.today()
        dates = {"today": today.isoformat(), "year_ago": (today - dt.timedelta(days=364)).isoformat()}
        paths = {key: path.format(**cursors, **dates) for key, (path, _, _) in READS.items()}
        sizes = check_reads(server.port, paths, cookies)
        log(f"{db.label}: body bytes " + " ".join(f"{k}={v}" for k, v in sizes.items()))
        rounds = []
        for rnd in range(1, args.rounds + 1):
            this: dict[str, dict] = {"c32": {}, "c1": {}}
            for key, (_, who, _) in READS.items():
                if args.warmup > 0:
                    wrk(server.port, paths[key], cookies[who], args.connections, args.warmup)
                res = this["c32"][key] = wrk(server.port, paths[key], cookies[who], args.connections, args.duration)
                log(f"{db.label} round {rnd} {key} c={args.connections}: {res['rps']:.0f} req/s "
                    f"p50 {res['p50_ms']:.2f} ms p99 {res['p99_ms']:.2f} ms")
            for key, (_, who, _) in READS.items():
                res = this["c1"][key] = wrk(server.port, paths[key], cookies[who], 1, args.c1_duration)
                log(f"{db.label} round {rnd} {key} c=1: {res['rps']:.0f} req/s "
                    f"p50 {res['p50_ms']:.2f} ms p99 {res['p99_ms']:.2f} ms")
            rounds.append(this)
        check_reads(server.port, paths, cookies)  # still signed in, still the same pages
        # Writes: the real registration form, a fresh submission key per request.
        body = registration_body(server.port, cookies[WRITER], jars[WRITER]["portal_csrf"])
        before = count_matters(db)
        writes, created, runs = [], 0, 0
        for rnd in range(1, args.write_rounds + 1):
            for seconds, keep in ((args.warmup, False), (args.duration, True)):
                if seconds <= 0:
                    continue
                extra = {"BENCH_BODY": body, "BENCH_KEY_PREFIX": f"bench{secrets.token_hex(6)}r{rnd}"}
                res = wrk(server.port, "/matters/new", cookies[WRITER], args.connections, seconds, script=POST_LUA,
                          extra_env=extra, expect_created=True)
                created += res["created"]
                runs += 1
                if keep:
                    writes.append(res)
                    log(f"{db.label} write round {rnd} c={args.connections}: {res['rps']:.0f} req/s "
                        f"p50 {res['p50_ms']:.2f} ms p99 {res['p99_ms']:.2f} ms ({res['created']} created)")
        after = count_matters(db)
        # wrk stops with requests in flight: the server may finish up to one per connection and run.
        if not created <= after - before <= created + runs * args.connections:
            raise BenchError(f"{created} registrations answered 303 but {after - before} matters were created")
        tail = server.log_text()
        if re.search(r"Traceback|ERROR|database is locked", tail):
            raise BenchError(f"the server logged errors during the run:\n{tail}")
        return {
            "label": db.label, "version": db.version, "rounds": rounds, "writes": writes, "sizes": sizes,
            "cursors": cursors, "walks": walks, "generation": gen_line, "generation_s": gen_seconds,
            "created": created, "rows_added": after - before,
        }
    finally:
        if server is not None:
            server.stop()
        for fn in db.cleanup:
            try:
                fn()
            except Exception as exc:  # report, but do not hide the original error
                log(f"cleanup failed: {exc}")
        shutil.rmtree(tmp, ignore_errors=True)


# ----------------------------------------------------------------------------- report


def _med(values) -> float:
    return statistics.median(values)


def summarize(result: dict) -> dict:
    rounds = result["rounds"]
    out: dict = {"c32": {}, "c1": {}, "ratios": {}}
    for mode in ("c32", "c1"):
        for key in READS:
            runs = [r[mode][key] for r in rounds]
            out[mode][key] = {
                "rps": _med(x["rps"] for x in runs), "rps_min": min(x["rps"] for x in runs),
                "rps_max": max(x["rps"] for x in runs), "p50": _med(x["p50_ms"] for x in runs),
                "p99": _med(x["p99_ms"] for x in runs), "p99_max": max(x["p99_ms"] for x in runs),
            }
    for name, num, den in (("Q1000/Q1", "Q1000", "Q1"), ("T1000/T1", "T1000", "T1"), ("Q1/M", "Q1", "M"),
                           ("T1/M", "T1", "M"), ("M/A", "M", "A")):
        per_round = [r["c32"][num]["rps"] / r["c32"][den]["rps"] for r in rounds]
        out["ratios"][name] = (_med(per_round), min(per_round), max(per_round))
    w = result["writes"]
    out["W"] = {
        "rps": _med(x["rps"] for x in w), "rps_min": min(x["rps"] for x in w), "rps_max": max(x["rps"] for x in w),
        "p50": _med(x["p50_ms"] for x in w), "p99": _med(x["p99_ms"] for x in w), "p99_max": max(x["p99_ms"] for x in w),
    }
    c1 = out["c1"]
    out["verdict"] = [
        ("(a) queue c=1 p50 ≤ 5 ms", f"Q1 {c1['Q1']['p50']:.2f}, T1 {c1['T1']['p50']:.2f} ms",
         max(c1["Q1"]["p50"], c1["T1"]["p50"]) <= T_P50_MS),
        ("(a) queue c=1 p99 ≤ 10 ms", f"Q1 {c1['Q1']['p99']:.2f}, T1 {c1['T1']['p99']:.2f} ms",
         max(c1["Q1"]["p99"], c1["T1"]["p99"]) <= T_P99_MS),
        ("(b) page 1,000 ≥ 0.9 × page 1 (req/s, c=32)",
         f"Q1000/Q1 {out['ratios']['Q1000/Q1'][0]:.2f}, T1000/T1 {out['ratios']['T1000/T1'][0]:.2f}",
         min(out["ratios"]["Q1000/Q1"][0], out["ratios"]["T1000/T1"][0]) >= T_DEEP),
        ("(c) queue ≥ 0.5 × in-memory page (req/s, c=32)", f"Q1/M {out['ratios']['Q1/M'][0]:.2f}",
         out["ratios"]["Q1/M"][0] >= T_VS_MEMORY),
        ("(d) numbers c=1 ≤ 20 ms (p99)", f"p50 {c1['N']['p50']:.2f}, p99 {c1['N']['p99']:.2f} ms",
         c1["N"]["p99"] <= T_NUMBERS_MS),
        ("(e) 32 clients registering: 0 errors, p99 ≤ 100 ms",
         f"p99 {out['W']['p99']:.1f} ms (worst round {out['W']['p99_max']:.1f}), 0 errors",
         out["W"]["p99"] <= T_WRITE_P99_MS),
    ]
    return out


def fmt_rps(s: dict) -> str:
    return f"{s['rps']:,.0f} ({s['rps_min']:,.0f}–{s['rps_max']:,.0f})"


def report(command: str, info: dict, args, results: list[dict], started: dt.datetime) -> str:
    lines = [
        START,
        f"# Benchmark results: the one-stop window over {args.count:,} matters (issue 3)",
        "",
        f"Date: {started:%Y-%m-%d %H:%M} (local), run took {(dt.datetime.now() - started).seconds // 60} min.",
        "",
        "Command (from the project root):",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), Linux {info['kernel']}; wrk and the server share them. "
        f"Python {info['python']}, litestar {info['litestar']}, granian {info['granian']} (1 worker, ASGI), "
        f"Jinja2 {info['jinja2']}, piccolo {info['piccolo']}, aiosqlite {info['aiosqlite']}, "
        f"asyncpg {info['asyncpg']}, {info['wrk']}.",
        "",
        f"Method: per database a fresh database (`portal db migrate`, `portal demo load`), then "
        f"`bench/generate_matters.py --count {args.count}` (bulk load of generated matters over the 10 demo "
        "centers with consistent `matter_stat` counters; see its docstring), then one granian process. "
        "Both users sign in over HTTP; each one's page 1,000 is reached by following the \"next page\" link "
        "999 times (every page checked: 20 rows, newest first). "
        f"Rounds: {args.rounds}, interleaved; per round every read route with `wrk -t1 -c{args.connections} -d{args.duration:g}s "
        f"--timeout 10s` after a {args.warmup:g} s warm-up, then every route with `-c1 -d{args.c1_duration:g}s`. "
        f"Then W, {args.write_rounds} rounds (`POST /matters/new` as `dmz_window`, `-c{args.connections} "
        f"-d{args.duration:g}s` after a {args.warmup:g} s warm-up): the real registration form with the CSRF "
        "token and a fresh `_submission_key` and phone number per request (bench/matters_post.lua); only 303 "
        "counts as success, and the matters added must match the 303s (plus at most one request in flight per "
        "connection when wrk stops). "
        "req/s: median of the rounds (min–max); p50/p99: median of the rounds' wrk percentiles; ratios per round, "
        "then the median (min–max). Any other answer, socket error or server-logged error aborts the run.",
        "",
        "Routes: " + "; ".join(f"**{k}** `{p}` – {d}" for k, (p, _, d) in READS.items())
        + "; **W** `POST /matters/new` – dmz_window registers a matter (32 clients).",
        "",
        "Targets: (a) queue page c=1 p50 ≤ 5 ms and p99 ≤ 10 ms (Q1 and T1); (b) page 1,000 ≥ 0.9 × page 1 "
        "req/s (c=32, both users); (c) Q1 ≥ 0.5 × M req/s (c=32); (d) N c=1 p99 ≤ 20 ms; (e) W on SQLite: "
        "no \"database is locked\" (no error at all) and p99 ≤ 100 ms.",
        "",
    ]
    for result in results:
        s = summarize(result)
        sizes = result["sizes"]
        lines += [
            f"## {result['label']} ({result['version']})",
            "",
            f"Data: {result['generation']} (generation step {result['generation_s']:.0f} s). "
            f"Page 1,000: gzq_admin `after={result['cursors']['admin']}`, dmz_window `after={result['cursors']['township']}` "
            f"(walks of 999 pages took {result['walks']['admin']:.1f} s and {result['walks']['township']:.1f} s). "
            "Body bytes: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()) + ".",
            "",
            f"| route | c={args.connections} req/s median (min–max) | p50 ms | p99 ms | c=1 req/s median (min–max) | c=1 p50 ms | c=1 p99 ms (worst round) |",
            "|---|---|---|---|---|---|---|",
        ]
        for key in READS:
            a, b = s["c32"][key], s["c1"][key]
            lines.append(f"| {key} | {fmt_rps(a)} | {a['p50']:.2f} | {a['p99']:.2f} | {fmt_rps(b)} | {b['p50']:.2f} | "
                         f"{b['p99']:.2f} ({b['p99_max']:.2f}) |")
        w = s["W"]
        lines.append(f"| W | {fmt_rps(w)} | {w['p50']:.2f} | {w['p99']:.2f} (worst round {w['p99_max']:.2f}) | | | |")
        lines += ["", "| ratio (req/s, c=%d, per round) | median (min–max) |" % args.connections, "|---|---|"]
        for name, (med, lo, hi) in s["ratios"].items():
            lines.append(f"| {name} | {med:.3f} ({lo:.3f}–{hi:.3f}) |")
        lines += ["", f"| target ({result['label']}) | measured | verdict |", "|---|---|---|"]
        for name, measured, good in s["verdict"]:
            if name.startswith("(e)") and result["label"] != "SQLite":
                lines.append(f"| {name} (target is for SQLite; shown for comparison) | {measured} | {'met' if good else 'not met'} |")
            else:
                lines.append(f"| {name} | {measured} | **{'met' if good else 'missed'}** |")
        lines += [
            "",
            f"W: {result['created']:,} registrations answered 303 (warm-ups included); {result['rows_added']:,} matters were "
            "added (the difference: requests in flight when wrk stopped, completed by the server); no error in the server log.",
            "",
            "<details><summary>Per-round numbers</summary>",
            "",
            "| round | mode | route | req/s | p50 ms | p99 ms | max ms |",
            "|---|---|---|---|---|---|---|",
        ]
        for i, rnd in enumerate(result["rounds"], 1):
            for mode in ("c32", "c1"):
                for key in READS:
                    r = rnd[mode][key]
                    label = f"c={args.connections}" if mode == "c32" else "c=1"
                    lines.append(f"| {i} | {label} | {key} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.2f} |")
        for i, r in enumerate(result["writes"], 1):
            lines.append(f"| {i} | c={args.connections} | W | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.2f} |")
        lines += ["", "</details>", ""]
    lines.append(END)
    return "\n".join(lines)


def write_report(path: Path, text: str) -> None:
    """Replace the matters block of RESULTS.md (or append it); everything else stays as it is."""
    old = path.read_text() if path.exists() else ""
    if START in old and END in old:
        head, rest = old.split(START, 1)
        new = head + text + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text + "\n"
    path.write_text(new)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", metavar="URL", help=f"also run on PostgreSQL (local server; scratch db {PG_DB})")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--count", type=int, default=1_000_000, help="matters to generate (default 1,000,000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write-rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per c=32 run (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds before each c=32 run (default 2)")
    parser.add_argument("--c1-duration", type=int, default=5, help="seconds per c=1 run (default 5)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out", default=str(BENCH / "RESULTS.md"), help="report file ('-' = stdout only)")
    args = parser.parse_args(argv)
    if not (1 <= args.rounds <= 9 and 1 <= args.write_rounds <= 9 and 0 < args.duration <= 60
            and 0 <= args.warmup <= 30 and 0 < args.c1_duration <= 60 and 1 <= args.connections <= 256
            and 25_000 <= args.count <= 5_000_000):
        parser.error("out of bounds: rounds 1–9, durations ≤ 60 s, warm-up ≤ 30 s, connections 1–256, "
                     "count 25,000–5,000,000")
    command = prepare_run(parser, "bench/matters.py", argv)
    started = dt.datetime.now()
    info = machine_info()
    try:
        results = run_databases(args, measure, prepare_sqlite, prepare_postgres, "whistle-bench-matters")
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    if not results:
        parser.error("nothing to run")
    text = report(command, info, args, results, started)
    print(text)
    if args.out != "-":
        out = Path(args.out)
        write_report(out, text)
        log(f"written to {os.path.relpath(out, Path.cwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
