"""A process's memory from /proc/PID/status, for the tests and benchmarks
that measure a backend's peak while it stores or loads a model."""
import threading
import time


def proc_status(pid):
    """VmRSS, VmHWM, RssAnon, RssFile and RssShmem of a process, in bytes."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                fields[key] = int(value.split()[0]) * 1024
    return fields


class Peaks:
    """The peaks of a process while a block runs, as growth over where it
    was before: hwm, VmHWM (reset at the start) over VmRSS; private, the
    private resident set (RssAnon + RssFile) sampled every 2 ms, without the
    shared memory (shared buffers, the model cache) that VmHWM also counts.
    Also seconds, and after (proc_status at the end)."""

    def __init__(self, pid, sample=True):
        self.pid, self.sampled = pid, sample

    def __enter__(self):
        with open(f"/proc/{self.pid}/clear_refs", "w") as f:
            f.write("5")
        self.before = proc_status(self.pid)
        self.private, self.done = 0, threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        if self.sampled:
            self.thread.start()
        self.start = time.time()
        return self

    def sample(self):
        while not self.done.is_set():
            s = proc_status(self.pid)
            self.private = max(self.private, s["RssAnon"] + s["RssFile"])
            time.sleep(0.002)

    def __exit__(self, *exc):
        self.seconds = time.time() - self.start
        self.done.set()
        if self.sampled:
            self.thread.join()
        self.after = proc_status(self.pid)
        self.hwm = self.after["VmHWM"] - self.before["VmRSS"]
        self.private -= self.before["RssAnon"] + self.before["RssFile"]
