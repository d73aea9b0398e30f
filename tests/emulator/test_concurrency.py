"""Parallel requests over a real socket: no lost clones, no lost updates."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.helpers import SSL_CONTEXT, EmulatorHandle, make_job


def _client(emulator: EmulatorHandle) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {emulator.token()}"}
    limits = httpx.Limits(max_connections=50)
    return httpx.AsyncClient(
        base_url=emulator.url, headers=headers, limits=limits, timeout=10, verify=SSL_CONTEXT
    )


@pytest.mark.anyio
async def test_50_concurrent_clones_make_50_distinct_jobs(emulator: EmulatorHandle) -> None:
    (source_id,) = emulator.seed([make_job()])
    # Latency makes the requests overlap inside the server, not just on the wire.
    emulator.faults(latency_ms=20)
    async with _client(emulator) as client:
        replies = await asyncio.gather(
            *(
                client.post(f"v1/jobs/{source_id}/clone", json={"name": f"clone {n}"})
                for n in range(50)
            )
        )
    assert [reply.status_code for reply in replies] == [201] * 50
    clone_ids = {reply.json()["job"]["id"] for reply in replies}
    assert len(clone_ids) == 50
    stored = emulator.all_jobs()
    assert len(stored) == 51
    assert {job["id"] for job in stored} == clone_ids | {source_id}
    assert emulator.stats()["requests"]["POST /v1/jobs/{id}/clone"] == 50


@pytest.mark.anyio
async def test_concurrent_patches_of_different_fields_are_all_kept(
    emulator: EmulatorHandle,
) -> None:
    (job_id,) = emulator.seed([make_job()])
    emulator.faults(latency_ms=20)
    async with _client(emulator) as client:
        replies = await asyncio.gather(
            *(
                client.patch(
                    f"v1/jobs/{job_id}",
                    json={f"x_field_{n}": n, "transfer": {f"x_option_{n}": n}},
                )
                for n in range(30)
            )
        )
        job = (await client.get(f"v1/jobs/{job_id}")).json()["job"]
    assert [reply.status_code for reply in replies] == [200] * 30
    assert all(job[f"x_field_{n}"] == n for n in range(30))
    assert all(job["transfer"][f"x_option_{n}"] == n for n in range(30))
    assert job["transfer"]["source"] == make_job()["transfer"]["source"]


@pytest.mark.perf  # a wall-clock bound: run with -m perf
@pytest.mark.anyio
async def test_latency_overlaps_across_concurrent_requests(emulator: EmulatorHandle) -> None:
    emulator.faults(latency_ms=100)
    async with _client(emulator) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        replies = await asyncio.gather(*(client.get("v1/jobs") for _ in range(10)))
        elapsed = loop.time() - started
    assert [reply.status_code for reply in replies] == [200] * 10
    # Each request waited its 100 ms; the lower bound is the only timing asserted.
    assert elapsed >= 0.1
