"""Wheels for an environment's pins, made once per (pins, base image) and kept outside every image.

They are made in a container of the base image (so they fit its Python and platform) with the
network and, when the host needs one, an extra CA bundle; the image build then needs neither, and
neither stays in any image. A directory is complete once its `.complete` mark exists, so a fetch
that was killed half-way is simply done again.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from . import container
from .errors import EngineError, ImageError
from .fingerprint import digest

COMPLETE = ".complete"
FETCH_TIMEOUT_SECONDS = 1800
FETCHER = Path(__file__).parent / "inside" / "fetch_wheels.py"
CA_BUNDLE_VARIABLES = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
_CA_INSIDE = "/seedmatrix-ca/ca.crt"
Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class Fetching:
    """How wheels are fetched on this host (not part of any image's identity)."""

    cache: Path
    ca_bundle: Path | None = None
    proxies: Mapping[str, str] | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str], *, ca_bundle: Path | None) -> Fetching:
        # pip's own variable first; a TLS-intercepting proxy's CA is often only in the others.
        named = next((env[key] for key in CA_BUNDLE_VARIABLES if env.get(key)), None)
        bundle = ca_bundle or (Path(named) if named else None)
        if bundle is not None and not bundle.is_file():
            raise ImageError(
                f"CA bundle {bundle} does not exist (from --ca-bundle or {', '.join(CA_BUNDLE_VARIABLES)})"
            )
        user_cache = Path(env.get("XDG_CACHE_HOME") or Path(env.get("HOME", "/root")) / ".cache")
        wheels = Path(env.get("SEEDMATRIX_WHEEL_CACHE") or user_cache / "seedmatrix" / "wheels")
        wheels.mkdir(parents=True, exist_ok=True)
        return cls(
            cache=wheels, ca_bundle=bundle, proxies={key: env[key] for key in PROXY_VARIABLES if env.get(key)}
        )


def ensure_wheels(
    client: docker.DockerClient,
    base: Any,
    requirements: bytes,
    fetching: Fetching,
    *,
    name: str,
    owner: container.Owner,
    log: Path,
    progress: Progress,
) -> Path:
    """The directory of wheels for `requirements` on `base`, fetched unless it is complete."""
    target = fetching.cache / digest(requirements, str(base.id))
    if (target / COMPLETE).exists():
        return target
    progress(f"fetching wheels for {name} into {target}")
    scratch = Path(tempfile.mkdtemp(prefix=".fetch-", dir=fetching.cache))
    try:
        (scratch / "requirements.txt").write_bytes(requirements)
        (scratch / "wheels").mkdir()
        mounts = {FETCHER.parent: "/seedmatrix-tools"}
        variables = dict(fetching.proxies or {})
        if fetching.ca_bundle is not None:
            mounts[fetching.ca_bundle] = _CA_INSIDE
            variables["PIP_CERT"] = _CA_INSIDE
        try:
            finished = container.run(
                client,
                container.ContainerSpec(
                    image=str(base.id),
                    command=[
                        "python3",
                        f"/seedmatrix-tools/{FETCHER.name}",
                        "/seedmatrix-fetch/wheels",
                        "/seedmatrix-fetch/requirements.txt",
                    ],
                    owner=owner,
                    limits=container.Limits(timeout_seconds=FETCH_TIMEOUT_SECONDS, pids=4096),
                    read_only_mounts=mounts,
                    writable_mounts={scratch: "/seedmatrix-fetch"},
                    environment=variables,
                    hermetic=False,
                ),
            )
        except EngineError as error:
            raise ImageError(f"fetching wheels for {name} failed: {error} (log: {log})") from None
        with log.open("a", encoding="utf-8") as stream:
            stream.write(finished.stdout + finished.stderr)
        if finished.exit_code != 0:
            why = "timed out" if finished.timed_out else f"exited {finished.exit_code}"
            raise ImageError(f"fetching wheels for {name} failed: pip {why} (log: {log})")
        shutil.rmtree(target, ignore_errors=True)
        (scratch / "wheels").rename(target)
        (target / COMPLETE).touch()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
