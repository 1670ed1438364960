"""The Wasm OCI artifact layout: what ``wkg oci push`` writes and ``wkg oci pull`` reads.

Per the CNCF TAG Runtime "Wasm OCI Artifact layout" and its reference implementation
(bytecodealliance/rust-oci-wasm, used by wkg): an OCI image manifest whose config has media type
``application/vnd.wasm.config.v0+json`` and whose one layer, ``application/wasm``, is the
component or module. The config, field for field as oci-wasm serialises it::

    {"created": "2026-12-05T14:00:00Z", "author": null, "architecture": "wasm",
     "os": "wasip2", "layerDigests": ["sha256:..."],
     "component": {"exports": [...], "imports": [...], "target": null}}

``os`` is ``wasip2`` for a component and ``wasip1`` for a core module (whose ``component`` is
null). The layer carries ``org.opencontainers.image.title`` (the file name), as ``wkg oci push``
sets it. Reading accepts any image manifest with exactly one ``application/wasm`` layer, or
with one layer of another media type when the config says it is a Wasm artifact; older
``application/vnd.wasm.content.layer.v1+wasm`` layers (wasm-to-oci) are read too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import RegistryError
from .distribution import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from .store import sha256_digest

if TYPE_CHECKING:
    from datetime import datetime

    from ._wasm import WasmInfo

__all__ = [
    "CONFIG_MEDIA_TYPE",
    "LAYER_MEDIA_TYPE",
    "Artifact",
    "Layer",
    "build_artifact",
    "parse_manifest",
]

CONFIG_MEDIA_TYPE = "application/vnd.wasm.config.v0+json"
LAYER_MEDIA_TYPE = "application/wasm"
_LEGACY_LAYERS = ("application/vnd.wasm.content.layer.v1+wasm",)
TITLE = "org.opencontainers.image.title"


@dataclass(frozen=True, slots=True)
class Layer:
    """A descriptor: media type, digest, size (and annotations)."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The OCI descriptor object."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True, slots=True)
class Artifact:
    """A Wasm artifact ready to push: config bytes, manifest bytes and the layer descriptor."""

    config: bytes
    config_digest: str
    manifest: bytes
    manifest_digest: str
    layer: Layer
    info: WasmInfo


def _rfc3339(moment: datetime | None) -> str:
    from datetime import UTC, datetime  # only pushes need it: kept out of a pull's imports

    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_artifact(
    wasm: bytes,
    *,
    title: str | None = None,
    author: str | None = None,
    annotations: dict[str, str] | None = None,
    created: datetime | None = None,
) -> Artifact:
    """Build the config and manifest of a Wasm artifact for ``wasm``.

    Args:
        wasm: the component or core module.
        title: the layer's file name (``org.opencontainers.image.title``).
        author: the config's ``author``.
        annotations: manifest annotations (``org.opencontainers.image.version``, ...).
        created: the config's creation time (default now).

    Raises:
        RegistryError: ``wasm`` is not a WebAssembly binary.

    """
    from .._binary.reader import BinaryError
    from ._wasm import read_info  # the binary reader: pushes only, not a pull's imports

    try:
        info = read_info(wasm)
    except BinaryError as exc:
        raise RegistryError(f"cannot push: not a WebAssembly binary ({exc})") from exc
    layer_digest = sha256_digest(wasm)
    component = None
    if info.kind == "component":
        component = {"exports": info.exports, "imports": info.imports, "target": None}
    config_obj = {
        "created": _rfc3339(created),
        "author": author,
        "architecture": "wasm",
        "os": "wasip2" if info.kind == "component" else "wasip1",
        "layerDigests": [layer_digest],
        "component": component,
    }
    config = json.dumps(config_obj, separators=(",", ":")).encode()
    layer = Layer(LAYER_MEDIA_TYPE, layer_digest, len(wasm), {TITLE: title} if title else None)
    manifest_obj: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": Layer(CONFIG_MEDIA_TYPE, sha256_digest(config), len(config)).to_json(),
        "layers": [layer.to_json()],
    }
    if annotations:
        manifest_obj["annotations"] = dict(annotations)
    manifest = json.dumps(manifest_obj, separators=(",", ":")).encode()
    return Artifact(config, sha256_digest(config), manifest, sha256_digest(manifest), layer, info)


def _descriptor(obj: Any, where: str, reference: str) -> Layer:
    if not isinstance(obj, dict):
        raise RegistryError(f"manifest {where} is not a descriptor object", reference)
    media_type, digest, size = obj.get("mediaType"), obj.get("digest"), obj.get("size")
    if not isinstance(media_type, str) or not isinstance(digest, str):
        raise RegistryError(f"manifest {where} lacks mediaType or digest", reference)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError(f"manifest {where} has no valid size", reference)
    annotations = obj.get("annotations")
    if annotations is not None and not isinstance(annotations, dict):
        annotations = None
    return Layer(media_type, digest, size, annotations)


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    """The parts of a pulled image manifest the registry uses."""

    config: Layer
    layer: Layer


def parse_manifest(data: dict[str, Any], media_type: str, reference: str) -> ParsedManifest:
    """Find the config and the wasm layer of a pulled manifest.

    Raises:
        RegistryError: it is an index or another kind of manifest, or has no single wasm layer.

    """
    kind = data.get("mediaType") or media_type
    if kind in (OCI_INDEX, "application/vnd.docker.distribution.manifest.list.v2+json"):
        raise RegistryError(
            "this is a multi-platform index, not a Wasm artifact manifest", reference
        )
    if kind not in (OCI_MANIFEST, DOCKER_MANIFEST, ""):
        raise RegistryError(f"unsupported manifest type {kind!r}", reference)
    if data.get("schemaVersion") != 2:
        raise RegistryError("manifest schemaVersion is not 2", reference)
    config = _descriptor(data.get("config"), "config", reference)
    layers = data.get("layers")
    if not isinstance(layers, list) or not layers:
        raise RegistryError("manifest has no layers", reference)
    descriptors = [_descriptor(item, f"layer {i}", reference) for i, item in enumerate(layers)]
    wasm = [d for d in descriptors if d.media_type in (LAYER_MEDIA_TYPE, *_LEGACY_LAYERS)]
    if len(wasm) == 1:
        return ParsedManifest(config, wasm[0])
    if not wasm and len(descriptors) == 1 and config.media_type == CONFIG_MEDIA_TYPE:
        return ParsedManifest(config, descriptors[0])
    found = ", ".join(d.media_type for d in descriptors)
    raise RegistryError(
        f"not a Wasm artifact: expected one {LAYER_MEDIA_TYPE} layer, found [{found}]", reference
    )
