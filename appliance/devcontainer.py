"""A devcontainer.json (containers.dev) as the Dockerfile of a template's build: its `image` or
`build.dockerfile`, its local `features`, `containerEnv`, `remoteUser` and `postCreateCommand`, run once
at build time (in the workspace folder, whose files every new project's workspace then starts with).

What needs a network beyond the package registries is refused with the reason: features from an OCI
registry (ghcr.io/...), and the lifecycle commands that run on a user's machine (`initializeCommand`).
Other keys that only matter to an editor (`customizations`, `forwardPorts`, ...) are ignored.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass
from typing import Any

from appliance.errors import BadRequest

# Keys the build cannot honour, and what the client is told.
REFUSED_KEYS = {
    "initializeCommand": "devcontainer.json's initializeCommand runs on the user's machine, which a "
    "template has not: it cannot be built into one",
    "dockerComposeFile": "templates are one image: devcontainer.json's dockerComposeFile is not supported",
}
LIFECYCLE_AT_BUILD = ("onCreateCommand", "updateContentCommand", "postCreateCommand")


@dataclass(frozen=True)
class Recipe:
    """What to build, in the uploaded folder: FROM `image`, or FROM what `dockerfile` builds (a path in
    the folder `context`, both relative to the upload's root, with `build_args`); then `steps`, built
    with the upload's root as their context."""

    steps: tuple[str, ...]
    image: str | None = None
    dockerfile: str | None = None
    context: str = "."
    build_args: tuple[tuple[str, str], ...] = ()

    def dockerfile_from(self, base: str) -> str:
        """The steps' Dockerfile, on `base` (the image, or what the Dockerfile built)."""
        return "\n".join((f"FROM {base}", *self.steps)) + "\n"


def parse(text: str) -> dict[str, Any]:
    """devcontainer.json is JSON with comments and trailing commas."""
    stripped = re.sub(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', _keep_strings, text, flags=re.S)
    stripped = re.sub(r",(\s*[}\]])", r"\1", stripped)
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise BadRequest("devcontainer.json is not valid JSON: {error}", error=str(exc)) from None
    if not isinstance(document, dict):
        raise BadRequest("devcontainer.json must hold an object")
    return document


def _keep_strings(match: re.Match[str]) -> str:
    token = match.group(0)
    return token if token.startswith('"') else ""


def recipe(text: str, path: str, workspace_path: str) -> Recipe:
    """What a devcontainer.json at `path` (in the uploaded folder) describes."""
    document = parse(text)
    for key, refusal in REFUSED_KEYS.items():
        if key in document:
            raise BadRequest(refusal)
    folder = posixpath.dirname(path)
    steps = ["USER root", *_features(document.get("features") or {}, folder)]
    environment = document.get("containerEnv") or {}
    if environment:
        steps.append(
            "ENV " + " ".join(f"{key}={json.dumps(str(value))}" for key, value in environment.items())
        )
    user = document.get("remoteUser") or document.get("containerUser")
    owner = f" && chown {shlex.quote(str(user))} {workspace_path}" if user else ""
    steps.append(f"RUN mkdir -p {workspace_path}{owner}")
    if user:
        steps.append(f"USER {user}")
    steps.append(f"WORKDIR {workspace_path}")
    for key in LIFECYCLE_AT_BUILD:
        if key in document:
            steps += [f"RUN {command}" for command in _commands(document[key], key)]
    if "image" in document:
        return Recipe(tuple(steps), image=_string(document, "image"))
    build = document.get("build") or {}
    if not isinstance(build, dict) or "dockerfile" not in build:
        raise BadRequest("devcontainer.json names neither an image nor build.dockerfile")
    context = _inside(posixpath.join(folder, str(build.get("context", "."))), "build.context")
    dockerfile = _inside(posixpath.join(folder, str(build["dockerfile"])), "build.dockerfile")
    args = tuple((str(k), str(v)) for k, v in (build.get("args") or {}).items())
    return Recipe(tuple(steps), dockerfile=dockerfile, context=context, build_args=args)


def _inside(path: str, key: str) -> str:
    """A path in the upload, normalised; one that leaves it is refused."""
    normal = posixpath.normpath(path)
    if normal.startswith("..") or posixpath.isabs(normal):
        raise BadRequest("devcontainer.json's {key} is outside the uploaded folder", key=key)
    return normal


def _features(features: dict[str, Any], folder: str) -> list[str]:
    """Each local feature (a folder beside devcontainer.json with install.sh) copied in and installed
    with its options as variables, as the devcontainer CLI does."""
    lines = []
    for index, (reference, options) in enumerate(features.items()):
        if not reference.startswith("./"):
            raise BadRequest(
                "feature {feature!r} comes from a registry, which templates cannot reach: copy it beside "
                "devcontainer.json and name it ./<folder>",
                feature=reference,
            )
        source = _inside(posixpath.join(folder, reference), "features")
        target = f"/tmp/rcoder-features/{index}"
        settings = options if isinstance(options, dict) else {"version": options}
        variables = " ".join(
            f"{_option_name(name)}={shlex.quote(_option_value(value))}" for name, value in settings.items()
        )
        lines.append(f"COPY {source}/ {target}/")
        lines.append(
            f"RUN cd {target} && chmod +x install.sh && {variables + ' ' if variables else ''}./install.sh"
        )
    return lines


def _option_name(name: str) -> str:
    """A feature option's variable: its name in capitals, other characters as '_' (the spec's rule)."""
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())


def _option_value(value: Any) -> str:
    """As JSON writes it (true, not True)."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _commands(value: Any, key: str) -> list[str]:
    """A lifecycle command as shell lines: a string, an argument list, or an object of either."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [shlex.join(str(item) for item in value)]
    if isinstance(value, dict):
        return [command for item in value.values() for command in _commands(item, key)]
    raise BadRequest("devcontainer.json's {key} must be a string, a list or an object", key=key)


def _string(document: dict[str, Any], key: str) -> str:
    value = document[key]
    if not isinstance(value, str) or not value or "\n" in value:
        raise BadRequest("devcontainer.json's {key} must be a string", key=key)
    return value
