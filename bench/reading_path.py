#!/usr/bin/env python3
"""The server's own CPU per report line, hot and cold: what the fan-out bench's "fixed cost" is made of.

Feeds report lines straight into a real bridge's device link (parse, merge,
encode, frame; no clients, no sockets) and times each with the thread's CPU
clock: back to back, then with a pause before each line like the pause
between real readings. The difference is what a cold cache and a virtual CPU
that went idle cost on this machine, which /proc's CPU figure includes.

First it prints the floor under all of that: the CPU an asyncio event loop
spends to wake up every 20 ms and do nothing (a pipe byte in, a callback that
reads it), which every reading pays before the server's own code runs.

    .venv/bin/python bench/reading_path.py
"""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from teleop_server.bridge import Bridge
from teleop_server.config import ServerConfig

LINES = 300


POKER = "import os, time\nfor _ in range({count}):\n    time.sleep({pause})\n    os.write(1, b'x')\n"


async def empty_wakeup(pause: float = 0.02, count: int = 150) -> float:
    """CPU seconds this process's event loop spends per wakeup when another process pokes it every ``pause`` seconds."""
    loop = asyncio.get_running_loop()
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    seen = 0
    done = loop.create_future()

    def readable() -> None:
        nonlocal seen
        seen += len(os.read(read_end, 64))
        if seen >= count and not done.done():
            done.set_result(None)

    poker = await asyncio.create_subprocess_exec(sys.executable, "-c", POKER.format(count=count, pause=pause), stdout=write_end)
    os.close(write_end)
    loop.add_reader(read_end, readable)
    start = time.thread_time()  # this thread only: the loop, not the poking process
    try:
        await done
    finally:
        spent = time.thread_time() - start
        loop.remove_reader(read_end)
        os.close(read_end)
        await poker.wait()
    return spent / count


#: The same empty wakeup with no interpreter at all: a C program on epoll, reading the poker's bytes from stdin.
C_WAKEUP = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int count = atoi(argv[1]), seen = 0, poller = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = 0};
    epoll_ctl(poller, EPOLL_CTL_ADD, 0, &ev);
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    char buf[64];
    while (seen < count) {
        epoll_wait(poller, &ev, 1, -1);
        ssize_t n = read(0, buf, sizeof buf);
        if (n <= 0) break;
        seen += n;
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    printf("%f\n", ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9) / count);
    return 0;
}
"""


def c_wakeup(pause: float = 0.02, count: int = 150) -> float | None:
    """The empty wakeup's CPU in a C program (None without a C compiler): what the machine itself costs."""
    with tempfile.TemporaryDirectory() as tmp:
        source, binary = Path(tmp, "wakeup.c"), Path(tmp, "wakeup")
        source.write_text(C_WAKEUP)
        try:
            subprocess.run(["cc", "-O2", "-o", str(binary), str(source)], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            return None
        poker = subprocess.Popen([sys.executable, "-c", POKER.format(count=count, pause=pause)], stdout=subprocess.PIPE)
        out = subprocess.run([str(binary), str(count)], stdin=poker.stdout, capture_output=True, text=True, check=True).stdout
        poker.wait()
        return float(out)


def bare_python_wakeup(pause: float = 0.02, count: int = 150) -> float:
    """The empty wakeup's CPU in a Python loop with no asyncio: ``epoll.poll`` and ``os.read``, nothing else."""
    poker = subprocess.Popen([sys.executable, "-c", POKER.format(count=count, pause=pause)], stdout=subprocess.PIPE)
    assert poker.stdout is not None
    fd = poker.stdout.fileno()
    poller = select.epoll()
    poller.register(fd, select.EPOLLIN)
    seen = 0
    start = time.thread_time()
    while seen < count:
        poller.poll()
        seen += len(os.read(fd, 64))
    spent = time.thread_time() - start
    poker.wait()
    return spent / count


async def main() -> None:
    floor = await empty_wakeup()
    print(f"an empty event-loop wakeup after a 20 ms pause (the floor under every reading): {floor * 1e6:6.1f} us of CPU", flush=True)
    bare = bare_python_wakeup()
    native = c_wakeup()
    print(f"   the same wakeup in a bare Python epoll loop (no asyncio):                       {bare * 1e6:6.1f} us", flush=True)
    if native is not None:
        print(f"   the same wakeup in a C program (the machine's own floor):                       {native * 1e6:6.1f} us", flush=True)
    bridge = Bridge(ServerConfig(host="127.0.0.1", port=0, auth=False, serial="sim"))
    await bridge.start()
    await asyncio.sleep(0.3)
    try:
        for pause in (0.0, 0.001, 0.02):
            spent = 0.0
            for i in range(LINES):
                bridge._last_readings = -1e9  # each line flushes at once, as readings 20 ms apart do
                start = time.thread_time()
                bridge.link._on_line(b"A0:%d A1:300 D2:1 bench:%d" % (i % 1024, i))
                spent += time.thread_time() - start
                if pause:
                    time.sleep(pause)
            label = "back to back" if not pause else f"after a {pause * 1000:.0f} ms pause"
            print(f"report line -> reading framed for clients, {label:>22}: {spent / LINES * 1e6:6.1f} us of CPU", flush=True)
    finally:
        await bridge.stop()


if __name__ == "__main__":
    asyncio.run(main())
