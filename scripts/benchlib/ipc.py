"""IPC benchmarks: ping round trips against a floor server, and 100 concurrent clients.

The floor is a bare asyncio Unix-socket server in its own process that reads
the same length-prefixed msgpack frames and answers each with the frame the
daemon would send (``{"id", "result": "pong"}``), so both sides move the same
bytes and are timed by the same ``treerag.client`` code. A second floor, a raw
byte echo timed with a bare socket, shows what the kernel round trip alone costs.
Daemon and floors are timed in alternating batches of 100, so machine noise hits all of them.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path

from benchlib.common import (PYTHON, Options, Row, background, ratio, running_daemon, sandbox, summary, us,
                             verdict, wait_until)

FLOOR_SERVER = r"""
import asyncio, struct, sys
import msgpack
path, mode = sys.argv[1], sys.argv[2]
LENGTH = struct.Struct(">I")

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readexactly(4)
            body = await reader.readexactly(LENGTH.unpack(head)[0])
            if mode == "msgpack":
                request = msgpack.unpackb(body)
                body = msgpack.packb({"id": request["id"], "result": "pong"}, use_bin_type=True)
            writer.write(LENGTH.pack(len(body)) + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_unix_server(handle, path)
    print("ok", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


def _time_calls(call, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        call()
        out.append(clock() - t0)
    return out


def _raw_echo_caller(path: Path):  # type: ignore[no-untyped-def]
    import msgpack

    body = msgpack.packb({"id": 1, "method": "ping", "params": {}}, use_bin_type=True)
    frame = struct.pack(">I", len(body)) + body
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(path))

    def call() -> None:
        s.sendall(frame)
        got = 0
        while got < len(frame):
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("echo server closed")
            got += len(chunk)

    return s, call


def bench_ping(opts: Options) -> list[Row]:
    from treerag.client import connect

    total = opts.pick(12_000, 3_000)
    batch = 100
    with sandbox() as box, running_daemon(box) as daemon:
        floor_sock = box.path / "floor.sock"
        raw_sock = box.path / "raw.sock"
        with background([PYTHON, "-c", FLOOR_SERVER, str(floor_sock), "msgpack"], stdout=-1) as floor, \
                background([PYTHON, "-c", FLOOR_SERVER, str(raw_sock), "raw"], stdout=-1) as raw:
            assert floor.stdout is not None and raw.stdout is not None
            if floor.stdout.readline().strip() != b"ok" or raw.stdout.readline().strip() != b"ok":
                raise RuntimeError("floor servers did not start")
            d_client, f_client = daemon.client(10), connect(floor_sock, timeout=10)
            raw_socket, raw_call = _raw_echo_caller(raw_sock)
            try:
                calls = {"daemon": lambda: d_client.call("ping"), "floor": lambda: f_client.call("ping"),
                         "raw": raw_call}
                assert d_client.call("ping") == "pong" and f_client.call("ping") == "pong"
                for call in calls.values():  # warm up
                    _time_calls(call, 200)
                samples: dict[str, list[float]] = {k: [] for k in calls}
                while len(samples["daemon"]) < total:  # alternate batches so noise hits every side
                    for name, call in calls.items():
                        samples[name] += _time_calls(call, batch)
                in_daemon = d_client.call("status")["latency"].get("ping", {})
            finally:
                d_client.close()
                f_client.close()
                raw_socket.close()
    d, f, r = (summary(samples[k]) for k in ("daemon", "floor", "raw"))
    raw = {"daemon": d, "floor_msgpack_asyncio": f, "floor_raw_echo": r, "in_daemon": in_daemon}
    fp = f"floor P50 {us(f['p50'])} / P99 {us(f['p99'])}"
    return [
        Row("ping", f"ping P50 (n={d['n']}, client→daemon→client)", us(d["p50"]), "", fp, "info", raw),
        Row("ping", "ping P99", us(d["p99"]), "< 500 µs", fp, verdict(d["p99"] < 500e-6)),
        Row("ping", "ping P99 / floor P99", f"{ratio(d['p99'], f['p99']):.2f}×", "≤ 1.5×",
            "floor: asyncio server, same frames, same client", verdict(ratio(d["p99"], f["p99"]) <= 1.5)),
        Row("ping", "ping P50 / floor P50", f"{ratio(d['p50'], f['p50']):.2f}×", "≤ 1.5×",
            "floor: asyncio server, same frames, same client", verdict(ratio(d["p50"], f["p50"]) <= 1.5)),
        Row("ping", "in-daemon ping (status → latency.ping) P50 / P99",
            f"{us(in_daemon.get('p50', float('nan')))} / {us(in_daemon.get('p99', float('nan')))}", "",
            f"raw byte echo, bare socket: P50 {us(r['p50'])} / P99 {us(r['p99'])}", "info"),
    ]


def bench_concurrency(opts: Options) -> list[Row]:
    clients, pings = 100, 100
    errors: list[str] = []
    answered = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    with running_daemon() as daemon:
        barrier = threading.Barrier(clients + 1)

        def worker(i: int) -> None:
            try:
                with daemon.client(30) as c:
                    barrier.wait(30)
                    clock = time.perf_counter
                    for _ in range(pings):
                        t0 = clock()
                        if c.call("ping") == "pong":
                            answered[i] += 1
                        latencies[i].append(clock() - t0)
            except Exception as exc:  # counted, never raised: the row reports them
                errors.append(f"{type(exc).__name__}: {exc}")
                if not barrier.broken:
                    barrier.abort()

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
        for t in threads:
            t.start()
        try:
            barrier.wait(60)
        except threading.BrokenBarrierError:
            pass
        started = time.perf_counter()
        for t in threads:
            t.join(120)
        wall = time.perf_counter() - started
        health = daemon.call("health", timeout=10)
        status = daemon.call("status", timeout=10)
        alive = daemon.proc.poll() is None
        wait_until(lambda: daemon.call("status", timeout=10)["server"]["connections_open"] <= 1, 5)
    total = sum(answered)
    flat = [x for per in latencies for x in per]
    s = summary(flat)
    ok = total == clients * pings and not errors and bool(health.get("ok")) and alive
    raw = {"answered": total, "errors": errors[:20], "error_count": len(errors), "wall_s": wall,
           "latency": s, "health": health, "server": status.get("server"), "process": status.get("process")}
    return [
        Row("concurrency", f"{clients} clients × {pings} pings answered", f"{total}/{clients * pings}",
            "all, daemon healthy", f"errors {len(errors)}; health ok={health.get('ok')}", verdict(ok), raw),
        Row("concurrency", "wall time / per-ping P50, P99", f"{wall:.2f} s",
            "", f"P50 {us(s['p50'])}, P99 {us(s['p99'])} under load", "info"),
        Row("concurrency", "daemon threads / fds after the storm",
            f"{status['process'].get('num_threads')} / {status['process'].get('num_fds')}", "",
            f"server errors {status['server'].get('errors')}, refused {status['server'].get('refused')}", "info"),
    ]


__all__ = ["bench_concurrency", "bench_ping"]
