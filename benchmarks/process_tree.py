"""Peak resident memory of a process tree, sampled from /proc while commands run."""

import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_PROC = Path("/proc")


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process visible now."""
    parents = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # the command name is in parentheses and may hold spaces: fields follow the last ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def tree_pids(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, ()))
    return found


def rss_bytes(pid: int) -> int:
    try:
        return int((_PROC / str(pid) / "statm").read_text().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_bytes(root: int) -> int:
    return sum(rss_bytes(pid) for pid in tree_pids(root))


class TreeMemorySampler:
    """Samples the summed RSS of `root` and its descendants until stopped; keeps the peaks."""

    def __init__(self, root: int | None = None, interval: float = 0.05) -> None:
        self.root = root or os.getpid()
        self.interval = interval
        self.peak_bytes = 0
        self.peak_at = time.time()  # when the whole tree peaked (epoch seconds)
        self.peak_by_root: dict[int, int] = {}
        self.watched: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def watch(self, pid: int) -> None:
        """Also track the subtree of `pid` on its own (e.g. the sync's process)."""
        self.watched.append(pid)

    def _sample(self) -> None:
        total = tree_rss_bytes(self.root)
        if total > self.peak_bytes:
            self.peak_bytes, self.peak_at = total, time.time()
        for pid in self.watched:
            self.peak_by_root[pid] = max(self.peak_by_root.get(pid, 0), tree_rss_bytes(pid))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "TreeMemorySampler":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class CommandRun:
    returncode: int
    wall_seconds: float
    peak_tree_bytes: int  # the whole tree: this process, the sandbox, the command and its children
    peak_command_bytes: int  # the command and its children only
    max_rss_bytes: int  # the kernel's figure for the command's largest process
    peak_at: float  # epoch seconds of the whole tree's peak
    started_at: float  # epoch seconds


def run_measured(
    command: Sequence[str], env: dict[str, str], cwd: Path, log: Path, stdin: str = ""
) -> CommandRun:
    """Run `command` to completion with its output in `log`; time it and sample memory."""
    with log.open("wb") as output, TreeMemorySampler() as sampler:
        started_at = time.time()
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command), cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=output, stderr=output
        )
        sampler.watch(process.pid)
        assert process.stdin is not None
        process.stdin.write(stdin.encode())
        process.stdin.close()
        _, status, usage = os.wait4(process.pid, 0)  # wait4 also yields the child's max RSS
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        sampler._sample()
    return CommandRun(
        returncode=process.returncode,
        wall_seconds=wall,
        peak_tree_bytes=sampler.peak_bytes,
        peak_command_bytes=sampler.peak_by_root.get(process.pid, 0),
        max_rss_bytes=usage.ru_maxrss * 1024,
        peak_at=sampler.peak_at,
        started_at=started_at,
    )
