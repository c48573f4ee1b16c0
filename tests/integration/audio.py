"""Sound on a desktop: play a tone inside it, and measure what arrives on its audio WebSocket."""

from __future__ import annotations

import array
import math
import time

from websockets.sync.client import connect

PCM_FRAME = b"\x01"  # the desktop-audio stream's marker for a frame of raw PCM (s16le, 48 kHz, stereo)
ONE_SECOND = 48000 * 2 * 2


def play_tone(container, seconds: int = 15) -> None:
    """A 440 Hz sine into the desktop's PulseAudio sink, as any program on the desktop would play it."""
    tone = f"sine=frequency=440:duration={seconds}"
    command = ["ffmpeg", "-loglevel", "error", "-re", "-f", "lavfi", "-i", tone, "-f", "pulse", "desktop"]
    container.exec_run(command, detach=True)


def record_rms(url: str, seconds: int = 4) -> tuple[int, float]:
    """Read a few seconds of PCM from the audio WebSocket: (samples received, RMS of the loudest second).

    The loudest second, because the tone may start a moment after the stream does.
    """
    received = bytearray()
    with connect(url, max_size=None) as audio:
        deadline = time.monotonic() + 20
        while len(received) < seconds * ONE_SECOND and time.monotonic() < deadline:
            message = audio.recv(timeout=10)
            assert message[:1] == PCM_FRAME
            received += message[1:]
    samples = array.array("h", bytes(received[: len(received) // 2 * 2]))
    window = ONE_SECOND // 2
    loudest = max(
        (
            sum(s * s for s in samples[i : i + window]) / window
            for i in range(0, max(len(samples) - window, 0) + 1, window)
        ),
        default=0.0,
    )
    return len(samples), math.sqrt(loudest)
