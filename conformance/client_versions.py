"""The versions of the clients the suite drives, for the report."""

from __future__ import annotations

import re
import shutil
from importlib import metadata

from conformance.external import aws_cli, version_line
from conformance.registry import Unavailable


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def client_versions() -> dict[str, str]:
    """Each client by name with the version found here (or "not installed")."""
    versions = {"boto3": _package("boto3"), "botocore": _package("botocore")}
    try:
        versions["aws cli"] = version_line([*aws_cli(), "--version"]).split()[0].removeprefix("aws-cli/")
    except Unavailable:
        versions["aws cli"] = "not installed"
    for name, command in (("rclone", ["rclone", "version"]), ("s3cmd", ["s3cmd", "--version"]),
                          ("restic", ["restic", "version"])):
        if shutil.which(command[0]) is None:
            versions[name] = "not installed"
        else:
            line = version_line(command)
            found = re.search(r"v?\d+\.\d+[\w.\-]*", line)
            versions[name] = found.group(0) if found else line
    return versions
