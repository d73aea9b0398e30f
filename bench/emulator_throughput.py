"""How fast the emulator answers: GETs per second at a fixed concurrency, and a full listing.

Starts `jobspec emulator` in a subprocess (so the client and the server do not share a GIL),
seeds jobs through `/_emulator/jobs`, then:
  1. fires `--requests` `GET /v1/jobs/{id}` at `--concurrency`, three ways: all tasks sharing
     one httpx.AsyncClient, one AsyncClient per task, and a bare asyncio HTTP/1.1 keep-alive
     client that shows what the server itself sustains (httpx's per-request cost, and its
     connection pool's cost when shared, dominate the first two figures);
  3. lists every job in pages of 1000, following `meta.links.next`.

    python bench/emulator_throughput.py [--jobs 5000] [--requests 5000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from typing import Any

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the emulator exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)  # waiting on another process: nothing to subscribe to
    raise RuntimeError("the emulator did not start in time")


def _job(n: int) -> dict[str, Any]:
    return {
        "kind": "transfer",
        "name": f"Bench job {n:05d}",
        "schedule": {"mode": "manual"},
        "transfer": {
            "transfer_type": "copy",
            "source": {
                "connection": {"id": "2aeae9329f7c4e0b8d5f1a6c3b7e9d01"},
                "target": {"path": f"/Bench/{n}"},
            },
            "destination": {
                "connection": {"id": "5dc531df6b2a4c8e9f3d7a1b0c5e8f42"},
                "target": {"path": f"/Sites/Bench/{n}"},
            },
            "permissions": {"policy": "none", "links": True, "failures": "none"},
            "versioning": {"preserve": "native", "select": "all"},
        },
    }


async def _httpx_get_rate(
    url: str, *, headers: dict[str, str], ids: list[str], requests: int, clients: int, workers: int
) -> tuple[float, int]:
    """(requests per second, failures) for `workers` tasks sharing `clients` AsyncClients."""
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    pool = [
        httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30)
        for _ in range(clients)
    ]
    failures = 0
    queue = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        for n in queue:
            reply = await client.get(f"v1/jobs/{ids[n % len(ids)]}")
            failures += reply.status_code != 200

    try:
        await asyncio.gather(*(worker(pool[w % clients]) for w in range(workers)))  # warm up
        queue = iter(range(requests))
        started = time.perf_counter()
        await asyncio.gather(*(worker(pool[w % clients]) for w in range(workers)))
        return requests / (time.perf_counter() - started), failures
    finally:
        for client in pool:
            await client.aclose()


async def _run(url: str, *, jobs: int, requests: int, concurrency: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        seeded = await client.post("_emulator/jobs", json={"jobs": [_job(n) for n in range(jobs)]})
        seeded.raise_for_status()
        ids: list[str] = seeded.json()["ids"]
        token = await client.post(
            "connect/token",
            data={"grant_type": "password", "username": "admin", "password": "admin"},
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        client.headers.update(headers)

        print(f"GET /v1/jobs/{{id}}, {requests} requests at concurrency {concurrency}:")
        for label, clients in (
            ("one shared httpx.AsyncClient", 1),
            ("an AsyncClient per task", concurrency),
        ):
            rate, failures = await _httpx_get_rate(
                url,
                headers=headers,
                ids=ids,
                requests=requests,
                clients=clients,
                workers=concurrency,
            )
            print(f"  {label:<30} {rate:6.0f} req/s ({failures} failures)")
        bare = await _bare_get_rate(
            url, token=headers["Authorization"], ids=ids, requests=requests, concurrency=concurrency
        )
        print(
            f"  {'bare asyncio HTTP/1.1 client':<30} {bare:6.0f} req/s (the server's own capacity)"
        )

        started = time.perf_counter()
        next_url: str | None = "v1/jobs?limit=1000"
        listed = pages = 0
        while next_url is not None:
            page = (await client.get(next_url)).json()
            listed += len(page["jobs"])
            pages += 1
            next_url = page["meta"]["links"].get("next", {}).get("href")
        elapsed = time.perf_counter() - started
        print(f"list {listed} jobs in {pages} pages of 1000: {elapsed * 1000:.0f} ms")


async def _bare_get_rate(
    url: str, *, token: str, ids: list[str], requests: int, concurrency: int
) -> float:
    """Requests per second from keep-alive connections speaking minimal HTTP/1.1 by hand."""
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    queue = iter(range(requests))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for n in queue:
                request = (
                    f"GET /v1/jobs/{ids[n % len(ids)]} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Authorization: {token}\r\nAccept: application/json\r\n\r\n"
                )
                writer.write(request.encode())
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(head.decode(errors="replace"))
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    port = _free_port()
    command = [sys.executable, "-m", "jobspec.cli", "emulator", "--port", str(port)]
    process = subprocess.Popen(command)
    try:
        _wait_until_listening(port, process, timeout=20)
        asyncio.run(
            _run(
                f"http://127.0.0.1:{port}/",
                jobs=args.jobs,
                requests=args.requests,
                concurrency=args.concurrency,
            )
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
