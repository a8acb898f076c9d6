"""Images shared through a registry: pulled by their content tags before building, pushed after.

A local tag `seedmatrix-env:<name>-<hash>` is `<registry>/seedmatrix-env:<name>-<hash>` there (the
same for `seedmatrix-base`). A pulled image has the id it was pushed with, so a second machine that
pulls the base arrives at the same environment tags (they follow the base's content) and pulls those
too: it builds nothing, and its cells have the same keys as the first machine's. Credentials are
the engine's own (`docker login`); seedmatrix neither stores nor prints any.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import docker
from docker.errors import APIError, NotFound

from ...errors import ImageError

Progress = Callable[[str], None]


def remote(registry: str, local_tag: str) -> tuple[str, str]:
    """(repository, tag) of a local seedmatrix tag in the registry."""
    repository, tag = local_tag.split(":", 1)
    return f"{registry.rstrip('/')}/{repository}", tag


def pull(client: docker.DockerClient, registry: str, local_tag: str, *, progress: Progress) -> Any:
    """The image from the registry, tagged locally; None when the registry does not have it (or
    cannot be reached: then the caller builds, as without a registry, and says why)."""
    repository, tag = remote(registry, local_tag)
    try:
        image = client.images.pull(repository, tag=tag)
    except NotFound:
        progress(f"{repository}:{tag} is not in the registry yet")
        return None
    except APIError as error:
        progress(f"could not pull {repository}:{tag} ({_first_line(error)}); building instead")
        return None
    local_repository, local = local_tag.split(":", 1)
    image.tag(local_repository, local)
    progress(f"pulled {repository}:{tag}")
    return image


def push(client: docker.DockerClient, registry: str, local_tag: str, *, progress: Progress) -> None:
    """Push a local image under its content tag; a failure is an ImageError naming the image."""
    repository, tag = remote(registry, local_tag)
    progress(f"pushing {repository}:{tag}")
    try:
        client.images.get(local_tag).tag(repository, tag)
        for chunk in client.images.push(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                raise ImageError(f"pushing {repository}:{tag} failed: {str(chunk['error']).strip()}")
    except APIError as error:
        raise ImageError(f"pushing {repository}:{tag} failed: {_first_line(error)}") from None


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
