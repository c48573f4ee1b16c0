"""A template built from an upload (POST /templates): a folder, as a tar (gzip or not), holding a
Dockerfile and its build context, or a devcontainer.json (appliance/devcontainer.py) and what it
names. The engine builds it; each line of the build's output goes to the client that asked, as it
comes; the result is sealed as any template is (appliance/templates.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import posixpath
import shutil
import tarfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from appliance import devcontainer
from appliance.engines.engine import Engine
from appliance.errors import BadRequest, PayloadTooLarge

DOCKERFILE, DEVCONTAINER = "dockerfile", "devcontainer"
KINDS = (DOCKERFILE, DEVCONTAINER)
# The most an upload may hold (its tar, uncompressed), and the most its devcontainer.json may.
MAX_UPLOAD_BYTES = 2 * 1024**3
MAX_MANIFEST_BYTES = 1024**2
# Where the steps a devcontainer.json adds are written into the upload, for their build.
STEPS_DOCKERFILE = ".rcoder-devcontainer.Dockerfile"
# A template's states (appliance/templates.py); a build's events are its log lines, then READY or FAILED.
BUILDING, READY, FAILED = "building", "ready", "failed"
LOG = "log"


@dataclass(frozen=True)
class BuildEvent:
    kind: str  # LOG, READY (text: the template's name) or FAILED (text: why)
    text: str


class BuildLog:
    """One build's events, as they come, for whoever follows it; lines may come from any thread."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._events: asyncio.Queue[BuildEvent] = asyncio.Queue()

    def line(self, text: str) -> None:
        self._loop.call_soon_threadsafe(self._events.put_nowait, BuildEvent(LOG, text))

    def end(self, kind: str, text: str) -> None:
        self._events.put_nowait(BuildEvent(kind, text))

    async def events(self, heartbeat: float) -> AsyncIterator[BuildEvent | None]:
        """Every event until the build is ready or has failed (that one last); None after each
        `heartbeat` seconds without one."""
        while True:
            try:
                event = await asyncio.wait_for(self._events.get(), heartbeat)
            except TimeoutError:
                yield None
                continue
            yield event
            if event.kind != LOG:
                return


async def receive(chunks: AsyncIterator[bytes], folder: Path, limit: int = MAX_UPLOAD_BYTES) -> Path:
    """The upload, spooled into `folder` as a plain tar (a gzip one is unpacked on the way); 413 past
    `limit` bytes, and nothing is left of it."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    path = folder / f"upload-{uuid.uuid4().hex}.tar"
    raw = path.with_suffix(".raw")
    try:
        size = 0
        file = await asyncio.to_thread(raw.open, "wb")
        with file:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                await asyncio.to_thread(file.write, chunk)
        await asyncio.to_thread(_plain_tar, raw, path, limit)
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    finally:
        await asyncio.to_thread(raw.unlink, missing_ok=True)
    return path


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge("the upload is larger than a template takes ({limit} bytes)", limit=limit)


def _plain_tar(raw: Path, path: Path, limit: int) -> None:
    """`raw`, gunzipped if it is gzip, as `path`; checked to be a tar."""
    with raw.open("rb") as source:
        zipped = source.read(2) == b"\x1f\x8b"
    if not zipped:
        raw.rename(path)
    else:
        with gzip.open(raw, "rb") as source, path.open("wb") as target:
            copied = 0
            while block := source.read(1024 * 1024):
                copied += len(block)
                if copied > limit:
                    raise too_large(limit)
                target.write(block)
    if not tarfile.is_tarfile(path):
        raise BadRequest("a template's upload is a tar (or tar.gz) of its folder")


def member(upload: Path, name: str) -> bytes:
    """A file of the upload (a devcontainer.json), read whole; 400 when it is missing or too big."""
    wanted = posixpath.normpath(name)
    with tarfile.open(upload) as tar:
        for info in tar:
            if posixpath.normpath(info.name) == wanted and info.isfile():
                if info.size > MAX_MANIFEST_BYTES:
                    raise BadRequest(
                        "{name} is larger than {limit} bytes", name=name, limit=MAX_MANIFEST_BYTES
                    )
                extracted = tar.extractfile(info)
                assert extracted is not None
                return extracted.read()
    raise BadRequest("the upload has no file {name}", name=name)


def subtree(upload: Path, folder: str) -> Path:
    """The part of the upload beneath `folder`, as a tar of its own (a build context)."""
    if folder in ("", "."):
        return upload
    prefix = posixpath.normpath(folder) + "/"
    target = upload.with_name(f"{upload.stem}-{uuid.uuid4().hex[:8]}.tar")
    with tarfile.open(upload) as source, tarfile.open(target, "w") as tar:
        for info in source:
            name = posixpath.normpath(info.name)
            if name.startswith(prefix):
                info.name = name.removeprefix(prefix)
                tar.addfile(info, source.extractfile(info) if info.isfile() else None)
    return target


def add_file(upload: Path, name: str, text: str) -> None:
    data = text.encode()
    with tarfile.open(upload, "a") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


async def build_upload(
    engine: Engine,
    upload: Path,
    kind: str,
    path: str,
    tag: str,
    workspace_path: str,
    line: Callable[[str], None],
) -> str:
    """Build the upload as `tag` (a Dockerfile at `path`, or a devcontainer.json there); the image's id."""
    if kind == DOCKERFILE:
        return await engine.build_image(upload, path, tag, {}, line)
    manifest = await asyncio.to_thread(member, upload, path)
    recipe = devcontainer.recipe(manifest.decode(errors="replace"), path, workspace_path)
    base = recipe.image
    if recipe.dockerfile is not None:
        context = await asyncio.to_thread(subtree, upload, recipe.context)
        try:
            dockerfile = posixpath.relpath(recipe.dockerfile, recipe.context)
            base = await engine.build_image(context, dockerfile, f"{tag}-base", dict(recipe.build_args), line)
        finally:
            if context != upload:
                context.unlink(missing_ok=True)
    assert base is not None
    await asyncio.to_thread(add_file, upload, STEPS_DOCKERFILE, recipe.dockerfile_from(base))
    return await engine.build_image(upload, STEPS_DOCKERFILE, tag, {}, line)


def discard(folder: Path) -> None:
    """Uploads a gateway that stopped mid-build left behind."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(folder)
