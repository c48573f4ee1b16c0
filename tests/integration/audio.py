"""Sound on a desktop: play a tone inside it, and measure what arrives on its audio WebSocket."""

from __future__ import annotations

import array
import math
import time

from websockets.sync.client import connect

PCM_FRAME = b"\x01"  # the desktop-audio stream's marker for a frame of raw PCM (s16le, 48 kHz, stereo)
ONE_SECOND = 48000 * 2 * 2


def play_tone(container, seconds: int = 8) -> None:
    """A 440 Hz sine into the desktop's PulseAudio sink, as any program on the desktop would play it."""
    tone = f"sine=frequency=440:duration={seconds}"
    command = ["ffmpeg", "-loglevel", "error", "-re", "-f", "lavfi", "-i", tone, "-f", "pulse", "desktop"]
    container.exec_run(command, detach=True)


def record_rms(url: str, headers: dict[str, str] | None = None) -> tuple[int, float]:
    """Read about a second of PCM from the audio WebSocket: (samples received, their RMS)."""
    received = bytearray()
    with connect(url, additional_headers=headers or {}, max_size=None) as audio:
        deadline = time.monotonic() + 15
        while len(received) < ONE_SECOND and time.monotonic() < deadline:
            message = audio.recv(timeout=10)
            assert message[:1] == PCM_FRAME
            received += message[1:]
    samples = array.array("h", bytes(received[: len(received) // 2 * 2]))
    return len(samples), math.sqrt(sum(s * s for s in samples) / max(len(samples), 1))
