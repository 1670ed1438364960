"""The package name and version a binary names, for ``publish``.

An encoded WIT package (``wasm-tools component wit --wasm``) names its own package; a component
may carry ``component-name`` and ``version`` custom sections (``wasm-tools metadata add --name
ns:name --version X.Y.Z``). An explicit ``ns:name@version`` wins over both.
"""

from __future__ import annotations

from .._binary.reader import BinaryError
from .._errors import InvalidReference, RegistryError
from ._wasm import read_info
from .reference import PackageSpec, parse_reference
from .semver import is_version

__all__ = ["package_of"]


def package_of(data: bytes, package: str | None = None) -> PackageSpec:
    """The ``ns:name@version`` to publish ``data`` under.

    Args:
        data: the wasm binary.
        package: an explicit ``ns:name@version``, which wins.

    Raises:
        InvalidReference: ``package`` is not an exact package version, or the binary names
            none.
        RegistryError: ``data`` is not a WebAssembly binary.

    """
    if package is not None:
        spec = parse_reference(package)
        if (
            not isinstance(spec, PackageSpec)
            or spec.version is None
            or not is_version(spec.version)
        ):
            raise InvalidReference("--package is ns:name@version (an exact version)", package)
        return spec
    try:
        info = read_info(data)
    except BinaryError as exc:
        raise RegistryError(f"cannot publish: not a WebAssembly binary ({exc})") from exc
    candidates = []
    if info.wit_package:
        candidates.append(info.wit_package)
    if info.name and info.version:
        candidates.append(f"{info.name}@{info.version}")
    for text in candidates:
        try:
            spec = parse_reference(text)
        except InvalidReference:
            continue
        if isinstance(spec, PackageSpec) and spec.version and is_version(spec.version):
            return spec
    raise InvalidReference(
        "the binary names no package and version: pass --package ns:name@version, or set them "
        "with `wasm-tools metadata add --name ns:name --version X.Y.Z`",
        "<publish>",
    )
