"""A folder swapped for a link to the host's root and back, as an agent racing the files server would."""

from __future__ import annotations

import os
import threading
import time


class Swapper(threading.Thread):
    """Swaps `d`, a folder with a fake etc/passwd, for a link `d -> /` and back, until stopped."""

    def __init__(self, folder) -> None:
        super().__init__(daemon=True)
        self.folder, self.stopping = folder, threading.Event()
        (folder / "d" / "etc").mkdir(parents=True)
        (folder / "d" / "etc" / "passwd").write_bytes(b"fake")

    def run(self) -> None:
        d, kept = self.folder / "d", self.folder / "d.real"
        while not self.stopping.is_set():
            os.rename(d, kept)
            os.symlink("/", d)
            time.sleep(0)  # let the readers run in each state, not only between the GIL's switches
            os.unlink(d)
            os.rename(kept, d)
            time.sleep(0)

    def __enter__(self) -> Swapper:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.join()
