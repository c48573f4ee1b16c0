"""appliance/devcontainer.py: a devcontainer.json as the steps of a template's build."""

from __future__ import annotations

import pytest

from appliance.devcontainer import parse, recipe
from appliance.errors import BadRequest

WORKSPACE = "/app/project_workspace"


def test_comments_and_trailing_commas_are_read_and_strings_keep_their_slashes():
    text = """{
      // a comment
      "image": "debian:bookworm-slim", /* another */
      "containerEnv": {"URL": "http://example.com/a//b",},
    }"""
    assert parse(text) == {
        "image": "debian:bookworm-slim",
        "containerEnv": {"URL": "http://example.com/a//b"},
    }


def test_an_image_with_env_user_and_post_create_command():
    made = recipe(
        """{"image": "debian:bookworm-slim", "containerEnv": {"GREETING": "hello world"},
            "remoteUser": "dev", "postCreateCommand": "echo ready > ready.txt"}""",
        ".devcontainer/devcontainer.json",
        WORKSPACE,
    )
    assert made.image == "debian:bookworm-slim" and made.dockerfile is None
    assert made.dockerfile_from("debian:bookworm-slim").splitlines() == [
        "FROM debian:bookworm-slim",
        "USER root",
        'ENV GREETING="hello world"',
        f"RUN mkdir -p {WORKSPACE} && chown dev {WORKSPACE}",
        "USER dev",
        f"WORKDIR {WORKSPACE}",
        "RUN echo ready > ready.txt",
    ]


def test_a_dockerfile_build_with_its_context_args_and_a_local_feature():
    made = recipe(
        """{"build": {"dockerfile": "Dockerfile", "context": "..", "args": {"VERSION": "1"}},
            "features": {"./tools": {"version": "2", "with-docs": true}},
            "postCreateCommand": {"a": ["make", "it all"], "b": "true"}}""",
        ".devcontainer/devcontainer.json",
        WORKSPACE,
    )
    assert (made.dockerfile, made.context, made.build_args) == (
        ".devcontainer/Dockerfile",
        ".",
        (("VERSION", "1"),),
    )
    steps = made.dockerfile_from("sha256:abc").splitlines()
    assert steps[2:4] == [
        "COPY .devcontainer/tools/ /tmp/rcoder-features/0/",
        "RUN cd /tmp/rcoder-features/0 && chmod +x install.sh && VERSION=2 WITH_DOCS=true ./install.sh",
    ]
    assert steps[-2:] == ["RUN make 'it all'", "RUN true"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"image": "x", "features": {"ghcr.io/devcontainers/features/go:1": {}}}', "comes from a registry"),
        ('{"image": "x", "initializeCommand": "echo"}', "runs on the user's machine"),
        ('{"dockerComposeFile": "compose.yml"}', "dockerComposeFile is not supported"),
        ('{"build": {"dockerfile": "../../Dockerfile"}}', "outside the uploaded folder"),
        ('{"name": "nothing to build"}', "neither an image nor build.dockerfile"),
        ('["not", "an", "object"]', "must hold an object"),
        ('{"image": ', "not valid JSON"),
    ],
)
def test_what_cannot_be_built_is_refused_saying_why(text, words):
    with pytest.raises(BadRequest, match=words):
        recipe(text, ".devcontainer/devcontainer.json", WORKSPACE)
