"""Templates: the toolchains a project may be started on (docs/templates.md).

A template is any glibc x86-64 image, sealed for the appliance: looked at from inside by the runner
bundle (its C library, the user its agents run as), then built once more with the workspace folder
owned by that user. Its containers mount the runner bundle and start from it (appliance/containers/
template.py). The configuration's templates (`templates:`) are sealed when the gateway starts, in the
background, unless the store holds one sealed from the same image; a chat that names one before it is
ready is told so (409). A project keeps the template of its first turn; the store remembers which.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from pathlib import Path

from appliance import labels
from appliance.config import Config, TemplateConfig
from appliance.containers.template import Template
from appliance.engines.engine import Engine, TemplateImage
from appliance.errors import ApplianceError, BadRequest, Conflict, TemplateNotFound, TemplateNotReady
from appliance.store import Store
from appliance.store.templates import TemplateRow, template_recorded, template_removed
from appliance.template_builds import BUILDING, FAILED, READY, BuildLog, build_upload, discard

log = logging.getLogger(__name__)

CONFIG, API = "config", "api"
# Why a build the gateway was running when it stopped failed.
INTERRUPTED = "the gateway stopped during its build; build it again"


class Templates:
    def __init__(self, config: Config, engine: Engine, store: Store) -> None:
        self._config = config
        self._engine = engine
        self._store = store
        self._stack = config.engine_config.stack
        self._rows: dict[str, TemplateRow] = {}
        # The runner bundle's volume on the engine (None until load() made sure of it).
        self._bundle: str | None = None
        self._builds: set[asyncio.Task[None]] = set()
        # Where uploads wait for their build.
        self.uploads = Path(config.state_dir) / "uploads"

    async def load(self) -> None:
        """The templates the store knows, then the configuration's, to be sealed (prepare); and the
        runner bundle's volume, made from its image the first time (a copy of some 700 MB)."""
        self._rows = {row.name: row for row in await self._store.templates.all()}
        await asyncio.to_thread(discard, self.uploads)
        for row in [row for row in self._rows.values() if row.origin == API and row.state == BUILDING]:
            self._record(dataclasses.replace(row, state=FAILED, error=INTERRUPTED))
        if self._rows or self._config.templates:
            self._bundle = await self._engine.runner_bundle(self._config.engine_config.runner_bundle_image)
        for name, template in self._config.templates.items():
            known = self._rows.get(name)
            if (
                known is None
                or known.origin != CONFIG
                or known.source != template.image
                or known.state != READY
            ):
                self._record(
                    TemplateRow(name, CONFIG, template.image, template.description, BUILDING, None, None)
                )

    async def prepare(self) -> None:
        """Seal each configured template not sealed yet, one at a time (run in the background)."""
        for name in [
            name for name, row in self._rows.items() if row.origin == CONFIG and row.state == BUILDING
        ]:
            row = self._rows[name]
            try:
                sealed = await self.seal(name, row.source)
            except ApplianceError as exc:
                log.warning("template %s: %s", name, exc.message)
                self._record(
                    TemplateRow(name, CONFIG, row.source, row.description, FAILED, exc.message, None)
                )
            else:
                self._record(TemplateRow(name, CONFIG, row.source, row.description, READY, None, sealed))
                log.info("template %s: ready (%s, as uid %d)", name, row.source, sealed.uid)

    def build(self, name: str, kind: str, path: str, description: str, upload: Path) -> BuildLog:
        """Build the template `name` from an upload (a Dockerfile at `path` with its context, or a
        devcontainer.json there), in the background; its log, for the client that asked. 409 for a
        name in use. The upload is removed when the build ends."""
        try:
            if problem := self._config.engine_config.templates_problem:
                raise BadRequest(problem)
            self.get_absent(name)
        except (BadRequest, Conflict):
            upload.unlink(missing_ok=True)
            raise
        output = BuildLog()
        self._record(TemplateRow(name, API, path, description, BUILDING, None, None))
        task = asyncio.create_task(self._build(name, kind, path, upload, output), name=f"template-{name}")
        self._builds.add(task)
        task.add_done_callback(self._builds.discard)
        return output

    def get_absent(self, name: str) -> None:
        """409 when there is a template `name` already."""
        if name in self._rows:
            raise Conflict("template {name!r} exists; remove it first (DELETE /templates/{name})", name=name)

    async def _build(self, name: str, kind: str, path: str, upload: Path, output: BuildLog) -> None:
        row = self._rows[name]
        try:
            source = await build_upload(
                self._engine,
                upload,
                kind,
                path,
                f"{self._repository(name)}:source",
                self._config.workspace_path,
                output.line,
            )
            sealed = await self.seal(name, source)
        except ApplianceError as exc:
            self._record(dataclasses.replace(row, state=FAILED, error=exc.message))
            output.end(FAILED, exc.message)
        except Exception as exc:
            log.exception("template %s: the build failed", name)
            self._record(
                dataclasses.replace(row, state=FAILED, error=f"internal error: {type(exc).__name__}")
            )
            output.end(FAILED, f"internal error: {type(exc).__name__}; see the gateway's log")
        else:
            self._record(dataclasses.replace(row, state=READY, image=sealed))
            output.end(READY, name)
        finally:
            await asyncio.to_thread(upload.unlink, missing_ok=True)

    async def remove(self, name: str, in_use: bool) -> None:
        """Forget a template built by the API, and its images; 409 for one of the configuration's, one
        being built, or one a project runs on (`in_use`)."""
        row = self.get(name)
        if row.origin != API:
            raise Conflict("template {name!r} comes from the configuration; remove it there", name=name)
        if row.state == BUILDING:
            raise Conflict(
                "template {name!r} is being built; remove it once it is ready or failed", name=name
            )
        if in_use:
            raise Conflict("projects run on template {name!r}; it stays while they exist", name=name)
        del self._rows[name]
        self._store.defer(template_removed(name))
        repository = self._repository(name)
        for image in (
            row.image.image if row.image else None,
            f"{repository}:source",
            f"{repository}:source-base",
        ):
            if image:
                await self._engine.remove_image(image)

    def _repository(self, name: str) -> str:
        return f"rcoder/template-{self._stack}-{name}"

    async def seal(self, name: str, source: str) -> TemplateImage:
        """`source` sealed as the template `name`'s image."""
        if self._bundle is None:
            self._bundle = await self._engine.runner_bundle(self._config.engine_config.runner_bundle_image)
        digest = hashlib.sha256(source.encode()).hexdigest()[:12]
        return await self._engine.seal_template(
            source,
            f"{self._repository(name)}:{digest}",
            self._config.workspace_path,
            labels.labels_for(self._stack, labels.KIND_TEMPLATE) | {labels.TEMPLATE: name},
            self._bundle,
        )

    def _record(self, row: TemplateRow) -> None:
        self._rows[row.name] = row
        self._store.defer(template_recorded(row))

    def all(self) -> list[TemplateRow]:
        return sorted(self._rows.values(), key=lambda row: row.name)

    def get(self, name: str) -> TemplateRow:
        try:
            return self._rows[name]
        except KeyError:
            known = ", ".join(sorted(self._rows)) or "none"
            raise TemplateNotFound("no template {name!r}; known: {known}", name=name, known=known) from None

    def image(self, name: str) -> TemplateImage:
        """The sealed image of a ready template (one a new project may start on)."""
        row = self.get(name)
        if row.state != READY:
            raise self._not_ready(row)
        return self._sealed(row)

    def agent_template(self, agent: Template, name: str) -> Template:
        """What a container of a project on the template `name` is made of: the agent template, in its
        sealed image (the one it was sealed to when the project started on it, if it has failed since)."""
        return agent.templated(self._sealed(self.get(name)), self.settings(name), self._bundle or "")

    def _sealed(self, row: TemplateRow) -> TemplateImage:
        if row.image is None or self._bundle is None:
            raise self._not_ready(row)
        return row.image

    @staticmethod
    def _not_ready(row: TemplateRow) -> TemplateNotReady:
        detail = f": {row.error}" if row.error else ""
        return TemplateNotReady(
            "template {name!r} is not ready ({state}{detail})", name=row.name, state=row.state, detail=detail
        )

    def settings(self, name: str) -> TemplateConfig:
        """The template's limits and pool (the configuration's, or the defaults for one built by the API)."""
        return self._config.templates.get(name, TemplateConfig())
