"""Load benchmark of the real app: A (bare route), B (dashboard from memory), C (signed-in dashboard).

    .venv/bin/python bench/run.py                                   # SQLite only
    .venv/bin/python bench/run.py --pg postgresql://postgres@127.0.0.1:5432/postgres

For each database: a fresh database (temp dir for SQLite; scratch database ``whistle_bench`` on the
PostgreSQL server, dropped afterwards), ``portal db migrate`` + ``portal demo load``, then one
granian worker on 127.0.0.1 serving ``portal.asgi:app`` with the ``bench.bench_module`` plugin.
Signs in over HTTP as ``gzq_admin``, checks that A, B and C answer what they should, then runs
3 interleaved rounds of wrk (per round: A, B, C at -c32 for 10 s after a 2 s warm-up each, then
A, B, C at -c1 for 5 s). Every wrk run is bounded; any non-2xx answer or socket error aborts.
Results go to bench/RESULTS.md (``--out``), with the command line that produced them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import http.client
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
LUA = BENCH / "report.lua"
HOST = "127.0.0.1"  # never anything else
PASSWORD = "whistle-demo-2026"
PG_BENCH_DB = "whistle_bench"

ROUTES = {
    "A": ("/healthz", "bare route (text/plain \"ok\", no session, no template)"),
    "B": ("/bench/dashboard", "dashboard.html from memory (no session, no hooks, no DB)"),
    "C": ("/dashboard", "signed-in dashboard (session look-up, guard, nav + widget hooks)"),
}

# Targets from the issue.
TARGET_C_OVER_B = 0.7
TARGET_C1_P50_MS = 3.0
TARGET_C1_P99_MS = 10.0


class BenchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ----------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def run_checked(cmd: list[str], env: dict[str, str], timeout: float, what: str) -> str:
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{what}: no answer within {timeout:.0f} s") from exc
    if proc.returncode != 0:
        raise BenchError(f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def http_request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: str | None = None
) -> tuple[int, dict[str, list[str]], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        hdrs: dict[str, list[str]] = {}
        for name, value in resp.getheaders():
            hdrs.setdefault(name.lower(), []).append(value)
        return resp.status, hdrs, data
    finally:
        conn.close()


def cookies_from(headers: dict[str, list[str]]) -> dict[str, str]:
    jar = {}
    for line in headers.get("set-cookie", []):
        name, _, rest = line.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]
    return jar


def redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


# ----------------------------------------------------------------------------- databases


@dataclass
class Database:
    label: str  # "SQLite" / "PostgreSQL"
    env: dict[str, str]
    version: str = ""
    cleanup: list = field(default_factory=list)


def pg_admin(url: str, sql_statements: list[str], fetch: str | None = None) -> str:
    import asyncio

    import asyncpg

    async def go() -> str:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            for sql in sql_statements:
                await conn.execute(sql, timeout=60)
            return str(await conn.fetchval(fetch, timeout=10)) if fetch else ""
        finally:
            await conn.close()

    return asyncio.run(go())


def prepare_sqlite(tmp: Path) -> Database:
    import sqlite3

    data_dir = tmp / "data"
    data_dir.mkdir()
    return Database("SQLite", {"PORTAL_DATA_DIR": str(data_dir)}, version=f"SQLite {sqlite3.sqlite_version}")


def prepare_postgres(admin_url: str, tmp: Path) -> Database:
    parts = urllib.parse.urlsplit(admin_url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise BenchError(f"--pg must point at a local server, not {parts.hostname!r}")
    bench_url = urllib.parse.urlunsplit(parts._replace(path=f"/{PG_BENCH_DB}"))
    version = pg_admin(
        admin_url,
        [f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)', f'CREATE DATABASE "{PG_BENCH_DB}"'],
        fetch="SHOW server_version",
    )
    data_dir = tmp / "data"
    data_dir.mkdir()
    db = Database(
        "PostgreSQL",
        {"PORTAL_DATA_DIR": str(data_dir), "PORTAL_DATABASE_URL": bench_url},
        version=f"PostgreSQL {version}",
    )
    db.cleanup.append(lambda: pg_admin(admin_url, [f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)']))
    return db


def base_env(db: Database) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        PORTAL_ENV="demo",
        PORTAL_PLUGINS="bench.bench_module",
        PORTAL_LOAD_ENTRYPOINTS="0",
        PYTHONPATH=str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
        BENCH_USER="gzq_admin",
    )
    env.update(db.env)
    return env


# ----------------------------------------------------------------------------- server


class Server:
    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        cmd = [
            str(VENV_BIN / "granian"), "--interface", "asgi", "--host", HOST, "--port", str(self.port),
            "--workers", "1", "--log-level", "warning", "portal.asgi:app",
        ]
        self.log_file = self.log_path.open("wb")
        # Own process group: stop() signals granian and its worker together, nothing else.
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"granian exited with {self.proc.returncode}:\n{self.log_text()}")
            with contextlib.suppress(OSError):
                status, _, body = http_request(self.port, "GET", "/healthz")
                if status == 200 and body == b"ok":
                    return
            time.sleep(0.2)
        raise BenchError(f"/healthz did not answer within {timeout:.0f} s:\n{self.log_text()}")

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-4000:]
        return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.log_file.close()


def sign_in(port: int, username: str) -> dict[str, str]:
    status, headers, _ = http_request(port, "GET", "/login")
    jar = cookies_from(headers)
    csrf = jar.get("portal_csrf")
    if status != 200 or not csrf:
        raise BenchError(f"GET /login answered {status} without a portal_csrf cookie")
    form = urllib.parse.urlencode(
        {"username": username, "password": PASSWORD, "next": "/dashboard", "_csrf_token": csrf}
    )
    status, headers, body = http_request(
        port, "POST", "/login", {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"portal_csrf={csrf}"}, form
    )
    jar.update(cookies_from(headers))
    location = headers.get("location", [""])[0]
    if status != 303 or location != "/dashboard" or not jar.get("portal_session"):
        raise BenchError(f"sign-in as {username} failed: {status} → {location!r} {body[:200]!r}")
    return {"portal_csrf": csrf, "portal_session": jar["portal_session"]}


def check_routes(port: int, cookie: str, display_name_hint: str = "区中心管理员") -> dict[str, int]:
    """Each route answers 200 with what it should; B and C are the same page. Returns body sizes."""
    sizes, bodies = {}, {}
    for key, (path, _) in ROUTES.items():
        status, headers, body = http_request(port, "GET", path, {"Cookie": cookie})
        if status != 200:
            raise BenchError(f"{key} {path} answered {status} (location {headers.get('location')})")
        sizes[key], bodies[key] = len(body), body.decode("utf-8", "replace")
    if bodies["A"] != "ok":
        raise BenchError(f"A answered {bodies['A'][:100]!r}")
    for key in ("B", "C"):
        page = bodies[key]
        for marker in ('<ul class="cards">', 'action="/logout"', display_name_hint):
            if marker not in page:
                raise BenchError(f"{key} is not the signed-in dashboard (missing {marker!r})")
    if abs(sizes["B"] - sizes["C"]) > 0.10 * sizes["C"]:
        raise BenchError(f"B ({sizes['B']} B) is not within 10 % of C ({sizes['C']} B)")
    return sizes


# ----------------------------------------------------------------------------- wrk


def wrk(port: int, path: str, cookie: str, connections: int, seconds: float) -> dict:
    cmd = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
        "-s", str(LUA), f"http://{HOST}:{port}{path}",
    ]
    env = dict(os.environ, BENCH_COOKIE=cookie)
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 30, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk on {path} did not finish within {seconds + 30:.0f} s") from exc
    if proc.returncode != 0:
        raise BenchError(f"wrk on {path} failed ({proc.returncode}): {proc.stderr}")
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        raise BenchError(f"wrk on {path} printed no summary:\n{proc.stdout}")
    result = json.loads(line)
    errors = {k: v for k, v in result.items() if (k.startswith("err_") or k == "non2xx") and v}
    if errors or result["requests"] == 0:
        raise BenchError(f"wrk on {path} (c={connections}): {errors or 'no requests'} — measurement rejected")
    return result


def measure(db: Database, args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="whistle-bench-"))
    server = None
    try:
        env = base_env(db)
        log(f"{db.label}: migrate + demo load")
        run_checked([str(VENV_BIN / "portal"), "db", "migrate"], env, 180, "portal db migrate")
        run_checked([str(VENV_BIN / "portal"), "demo", "load"], env, 180, "portal demo load")
        server = Server(env, tmp / "granian.log")
        server.start()
        log(f"{db.label}: granian on {HOST}:{server.port}")
        jar = sign_in(server.port, "gzq_admin")
        # The same Cookie header for every route, as a signed-in browser sends it.
        cookie = f"portal_csrf={jar['portal_csrf']}; portal_session={jar['portal_session']}"
        sizes = check_routes(server.port, cookie)
        log(f"{db.label}: body bytes A={sizes['A']} B={sizes['B']} C={sizes['C']}")
        rounds = []
        for rnd in range(1, args.rounds + 1):
            this: dict[str, dict] = {"c32": {}, "c1": {}}
            for key, (path, _) in ROUTES.items():
                if args.warmup > 0:
                    wrk(server.port, path, cookie, args.connections, args.warmup)
                res = wrk(server.port, path, cookie, args.connections, args.duration)
                this["c32"][key] = res
                log(f"{db.label} round {rnd} {key} c={args.connections}: {res['rps']:.0f} req/s "
                    f"p50 {res['p50_ms']:.2f} ms p99 {res['p99_ms']:.2f} ms")
            for key, (path, _) in ROUTES.items():
                res = wrk(server.port, path, cookie, 1, args.c1_duration)
                this["c1"][key] = res
                log(f"{db.label} round {rnd} {key} c=1: {res['rps']:.0f} req/s "
                    f"p50 {res['p50_ms']:.2f} ms p99 {res['p99_ms']:.2f} ms")
            rounds.append(this)
        check_routes(server.port, cookie)  # still signed in: C was the dashboard all along
        tail = server.log_text()
        if re.search(r"Traceback|ERROR", tail):
            raise BenchError(f"the server logged errors during the run:\n{tail}")
        return {"label": db.label, "version": db.version, "sizes": sizes, "rounds": rounds}
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


def summarize(result: dict) -> dict:
    rounds = result["rounds"]
    out: dict = {"c32": {}, "c1": {}, "ratios": {}}
    for mode in ("c32", "c1"):
        for key in ROUTES:
            runs = [r[mode][key] for r in rounds]
            rps = [x["rps"] for x in runs]
            out[mode][key] = {
                "rps": statistics.median(rps),
                "rps_min": min(rps),
                "rps_max": max(rps),
                "p50": statistics.median(x["p50_ms"] for x in runs),
                "p99": statistics.median(x["p99_ms"] for x in runs),
                "p99_max": max(x["p99_ms"] for x in runs),
                "p50_max": max(x["p50_ms"] for x in runs),
            }
        for num, den in (("B", "A"), ("C", "A"), ("C", "B")):
            per_round = [r[mode][num]["rps"] / r[mode][den]["rps"] for r in rounds]
            out["ratios"][f"{mode} {num}/{den}"] = (statistics.median(per_round), min(per_round), max(per_round))
    c1c = out["c1"]["C"]
    out["verdict"] = {
        "C/B": out["ratios"]["c32 C/B"][0] >= TARGET_C_OVER_B,
        "p50": c1c["p50"] <= TARGET_C1_P50_MS,
        "p99": c1c["p99"] <= TARGET_C1_P99_MS,
    }
    return out


def machine_info() -> dict[str, str]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = subprocess.run(
        [str(VENV_BIN / "python"), "-c",
         "import sys, importlib.metadata as m; print(sys.version.split()[0]);"
         "[print(m.version(p)) for p in ('litestar', 'granian', 'jinja2', 'piccolo', 'aiosqlite', 'asyncpg')]"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.split()
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10).stdout.split("\n")[0]
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model or platform.processor(),
        "kernel": platform.release(),
        "python": versions[0],
        "litestar": versions[1],
        "granian": versions[2],
        "jinja2": versions[3],
        "piccolo": versions[4],
        "aiosqlite": versions[5],
        "asyncpg": versions[6],
        "wrk": " ".join(wrk_version.split()[:2]),
    }


def fmt_rps(s: dict) -> str:
    return f"{s['rps']:,.0f} ({s['rps_min']:,.0f}–{s['rps_max']:,.0f})"


def ok(flag: bool) -> str:
    return "**met**" if flag else "**missed**"


def write_report(path: Path, command: str, info: dict, args, results: list[dict], started: dt.datetime) -> str:
    lines = [
        "# Benchmark results: bare route (A), dashboard from memory (B), signed-in dashboard (C)",
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
        f"Method: one granian process per database; {args.rounds} interleaved rounds, each "
        f"A, B, C with `wrk -t1 -c{args.connections} -d{args.duration:g}s --timeout 10s` after a "
        f"{args.warmup:g} s warm-up, then A, B, C with `-c1 -d{args.c1_duration:g}s`. "
        "Every request carries the same Cookie header (CSRF cookie + session of `gzq_admin`, signed in over HTTP). "
        "req/s: median of the rounds (min–max); p50/p99: median of the rounds' wrk percentiles; "
        "ratios computed per round, then the median (min–max). Any non-2xx answer or socket error aborts the run.",
        "",
        "Routes: " + "; ".join(f"**{k}** `{p}` – {d}" for k, (p, d) in ROUTES.items()) + ".",
        "",
        f"Targets: C ≥ {TARGET_C_OVER_B} × B (req/s, c={args.connections}, same run); "
        f"single client (c=1) C p50 ≤ {TARGET_C1_P50_MS:g} ms and p99 ≤ {TARGET_C1_P99_MS:g} ms.",
        "",
    ]
    for result in results:
        s = summarize(result)
        sizes = result["sizes"]
        lines += [
            f"## {result['label']} ({result['version']})",
            "",
            f"Body bytes: A {sizes['A']}, B {sizes['B']}, C {sizes['C']} (B/C = {sizes['B'] / sizes['C']:.3f}).",
            "",
            f"| route | c={args.connections} req/s median (min–max) | p50 ms | p99 ms | c=1 req/s median (min–max) | c=1 p50 ms | c=1 p99 ms (worst round) |",
            "|---|---|---|---|---|---|---|",
        ]
        for key in ROUTES:
            a, b = s["c32"][key], s["c1"][key]
            lines.append(
                f"| {key} `{ROUTES[key][0]}` | {fmt_rps(a)} | {a['p50']:.2f} | {a['p99']:.2f} | "
                f"{fmt_rps(b)} | {b['p50']:.2f} | {b['p99']:.2f} ({b['p99_max']:.2f}) |"
            )
        lines += ["", "| ratio (req/s, per round) | c=%d median (min–max) | c=1 median (min–max) |" % args.connections, "|---|---|---|"]
        for pair in ("B/A", "C/A", "C/B"):
            m32, m1 = s["ratios"][f"c32 {pair}"], s["ratios"][f"c1 {pair}"]
            lines.append(f"| {pair} | {m32[0]:.3f} ({m32[1]:.3f}–{m32[2]:.3f}) | {m1[0]:.3f} ({m1[1]:.3f}–{m1[2]:.3f}) |")
        v = s["verdict"]
        c1c = s["c1"]["C"]
        lines += [
            "",
            f"Verdict ({result['label']}): C/B = {s['ratios']['c32 C/B'][0]:.2f} → target ≥ {TARGET_C_OVER_B} {ok(v['C/B'])}; "
            f"c=1 C p50 = {c1c['p50']:.2f} ms → ≤ {TARGET_C1_P50_MS:g} ms {ok(v['p50'])}; "
            f"c=1 C p99 = {c1c['p99']:.2f} ms (worst round {c1c['p99_max']:.2f}) → ≤ {TARGET_C1_P99_MS:g} ms {ok(v['p99'])}.",
            "",
            "<details><summary>Per-round numbers</summary>",
            "",
            "| round | mode | route | req/s | p50 ms | p99 ms | max ms |",
            "|---|---|---|---|---|---|---|",
        ]
        for i, rnd in enumerate(result["rounds"], 1):
            for mode in ("c32", "c1"):
                for key in ROUTES:
                    r = rnd[mode][key]
                    label = f"c={args.connections}" if mode == "c32" else "c=1"
                    lines.append(
                        f"| {i} | {label} | {key} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.2f} |"
                    )
        lines += ["", "</details>", ""]
    text = "\n".join(lines)
    if path is not None:
        marker = "<!-- analysis -->"
        # Keep a hand-written analysis section (below the marker) across re-runs.
        if path.exists() and marker in (old := path.read_text()):
            text += "\n" + marker + old.split(marker, 1)[1]
        path.write_text(text if text.endswith("\n") else text + "\n")
    return text


# ----------------------------------------------------------------------------- main


def prepare_run(parser: argparse.ArgumentParser, script: str, argv: list[str] | None) -> str:
    """What every benchmark checks and sets up before it runs; returns its command line as shown in
    the report (PostgreSQL URLs redacted)."""
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed")
    for tool in ("granian", "portal", "python"):
        if not (VENV_BIN / tool).exists():
            parser.error(f"{VENV_BIN / tool} is missing (make install)")
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the server and the scratch database go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    shown = list(sys.argv[1:] if argv is None else argv)
    shown = [redact(a) if a.startswith(("postgres://", "postgresql://")) else a for a in shown]
    python = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else sys.executable
    return shlex.join([python, script, *shown])


def run_databases(args, measure, prepare_sqlite, prepare_postgres, prefix: str) -> list[dict]:
    """``measure`` on SQLite (unless ``--no-sqlite``) and on PostgreSQL (with ``--pg``), each in its own temp dir."""
    results = []
    for wanted, label, prepare in ((not args.no_sqlite, "sqlite", prepare_sqlite),
                                   (bool(args.pg), "pg", lambda tmp: prepare_postgres(args.pg, tmp))):
        if not wanted:
            continue
        tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}-{label}-"))
        try:
            results.append(measure(prepare(tmp), args))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", metavar="URL", help="also run on PostgreSQL (local server; scratch db whistle_bench)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10, help="seconds per c=32 run (default 10)")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up seconds before each c=32 run (default 2)")
    parser.add_argument("--c1-duration", type=float, default=5, help="seconds per c=1 run (default 5)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out", default=str(BENCH / "RESULTS.md"), help="report file ('-' = stdout only)")
    args = parser.parse_args(argv)
    if not (1 <= args.rounds <= 9 and 0 < args.duration <= 60 and 0 <= args.warmup <= 30
            and 0 < args.c1_duration <= 60 and 1 <= args.connections <= 256):
        parser.error("out of bounds: rounds 1–9, durations ≤ 60 s, warm-up ≤ 30 s, connections 1–256")
    command = prepare_run(parser, "bench/run.py", argv)
    started = dt.datetime.now()
    info = machine_info()
    try:
        results = run_databases(args, measure, prepare_sqlite, prepare_postgres, "whistle-bench")
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    if not results:
        parser.error("nothing to run")
    out = None if args.out == "-" else Path(args.out)
    text = write_report(out, command, info, args, results, started)
    print(text)
    if out is not None:
        log(f"written to {os.path.relpath(out, Path.cwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
