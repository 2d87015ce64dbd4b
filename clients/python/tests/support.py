"""Starts the real erpc server the tests talk to: the workspace's erpc-test-server
(clients/test-server), built with cargo unless ERPC_TEST_SERVER names the binary."""

import asyncio
import json
import os
import re
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def server_binary():
    path = os.environ.get("ERPC_TEST_SERVER")
    if not path:
        subprocess.run(["cargo", "build", "-q", "-p", "erpc-test-server"], cwd=REPO, check=True)
        path = str(Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "debug" / "erpc-test-server")
    if not Path(path).exists():
        raise RuntimeError(f"no erpc-test-server at {path}")
    return path


class Server:
    """A running erpc-test-server; ``tcp`` and ``ws`` are its addresses."""

    def __init__(self, *args):
        # stdin is a pipe the server watches: if the tests die, the server ends too.
        self.process = subprocess.Popen([server_binary(), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"erpc-test-server exited ({self.process.wait()}) before printing its addresses")
        self.addrs = json.loads(line)["addrs"]
        self.tcp = next(a for a in self.addrs if a.startswith("tcp://"))

    def stop(self, kill=False):
        if self.process.poll() is None and kill:
            self.process.kill()
        self.process.stdin.close()  # ends it gracefully when not killed
        self.process.wait(timeout=30)
        self.process.stdout.close()


async def eventually(check, seconds=10.0, what="condition"):
    """Awaits ``check()`` every 20 ms until it returns something truthy."""
    until, last = time.monotonic() + seconds, None
    while True:
        try:
            last = await check()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - kept to report
            last = e
        if time.monotonic() > until:
            raise AssertionError(f"{what} not met within {seconds} s (last: {last!r})")
        await asyncio.sleep(0.02)


def protocol_vectors():
    """Every ``<!-- vector: NAME -->`` hex block of PROTOCOL.md, read from the document so it
    cannot drift from what is tested: ``{name: bytes}`` (text after ``|`` is annotation)."""
    text = (REPO / "PROTOCOL.md").read_text()
    vectors = {}
    for name, block in re.findall(r"<!-- vector: ([\w-]+) -->\s*```text\n(.*?)```", text, re.S):
        hex_bytes = " ".join(line.split("|")[0] for line in block.splitlines()).split()
        assert name not in vectors, f"vector {name} appears twice"
        vectors[name] = bytes(int(b, 16) for b in hex_bytes)
    return vectors
