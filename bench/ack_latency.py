"""Slash-command acknowledgement latency: `/slis help` on the bot against a bare Bolt app.

Both run as uvicorn servers in their own processes, on the same machine, in the same run;
32 concurrent clients send correctly signed requests; we report p50/p99 for each, the ratio
ours/bare at p50 (goal: <= 1.3), and the bot's resident memory when idle.

    .venv/bin/python bench/ack_latency.py [--requests 4000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from sqlmodel import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.ports import SystemClock  # noqa: E402
from bot.services.directory_import import load_sample  # noqa: E402
from storage.engine import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import ChatIdentity  # noqa: E402

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fake_slack_api(port: int) -> None:
    """Answers auth.test (Bolt asks once) and anything else with ok, on loopback."""

    async def ok(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = {"ok": True}
        if method == "auth.test":
            body.update(user_id="UBOT", bot_id="BBOT", team_id="T0SAMPLE1", url="https://x/")
        return web.json_response(body)

    app = web.Application()
    app.router.add_post("/api/{method}", ok)
    runner = web.AppRunner(app, access_log=None)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    loop.run_forever()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_server(factory: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"bench.servers:{factory}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{factory} server did not start")


async def load(port: int, body: str, requests: int, concurrency: int) -> list[float]:
    """Send `requests` signed slash commands with `concurrency` clients; latencies in ms."""
    verifier = SignatureVerifier(SECRET)
    url = f"http://127.0.0.1:{port}/slack/events"
    latencies: list[float] = []
    remaining = requests

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            ts = str(int(time.time()))
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body),
            }
            start = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise SystemExit(f"unexpected HTTP {response.status}")
            latencies.append((time.perf_counter() - start) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return latencies


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="slis-bench-"))
    url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(url)
    db = Database.from_url(url)
    load_sample(db, SystemClock())
    with db.session() as session:
        identity = session.exec(select(ChatIdentity)).first()
    assert identity is not None, "the sample directory has no chat identities"
    db.dispose()
    body = urllib.parse.urlencode(
        {
            "token": "legacy",
            "team_id": identity.workspace_id,
            "team_domain": "sample",
            "channel_id": "C0BENCH",
            "channel_name": "bench",
            "user_id": identity.user_id,
            "user_name": "bench",
            "command": "/slis",
            "text": "help",
            "response_url": "https://hooks.slack.invalid/commands/1",
            "trigger_id": "1.1.bench",
        }
    )

    api_port = free_port()
    threading.Thread(target=fake_slack_api, args=(api_port,), daemon=True).start()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": f"http://127.0.0.1:{api_port}/api/",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }

    results: dict[str, list[float]] = {"ours": [], "bare": []}
    idle_rss = 0
    for _ in range(args.rounds):
        for name in ("ours", "bare"):
            port = free_port()
            proc = start_server(name, port, env)
            try:
                asyncio.run(load(port, body, 200, args.concurrency))  # warm-up
                if name == "ours":
                    time.sleep(0.5)
                    idle_rss = max(idle_rss, rss_kib(proc.pid))
                results[name] += asyncio.run(load(port, body, args.requests, args.concurrency))
            finally:
                proc.terminate()
                proc.wait(timeout=10)

    print(
        f"/slis help acknowledgement, {args.concurrency} concurrent clients, "
        f"{args.rounds} rounds x {args.requests} requests each"
    )
    for name, values in results.items():
        print(
            f"  {name:5s} p50 {pct(values, 50):7.2f} ms   p99 {pct(values, 99):7.2f} ms   "
            f"throughput ~{1000 * args.concurrency / statistics.mean(values):6.0f} req/s"
        )
    ratio = pct(results["ours"], 50) / pct(results["bare"], 50)
    print(f"  ratio ours/bare at p50: {ratio:.2f} (goal <= 1.3)")
    print(f"  resident memory of the bot, idle after warm-up: {idle_rss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
