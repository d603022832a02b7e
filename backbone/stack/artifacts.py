"""Resolve the stack's jars from Maven Central with Maven, into a cache outside git."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

from backbone.config import repo_root
from backbone.errors import StackError

__all__ = ["apicurio_home", "cache_dir", "ensure_apicurio", "ensure_kafka", "kafka_version", "require_tool"]


def cache_dir() -> Path:
    return Path(os.environ.get("BACKBONE_CACHE_DIR", Path.home() / ".cache" / "backbone"))


def _pom(name: str) -> Path:
    return repo_root() / "deploy" / "local" / name


def _pom_property(name: str, prop: str) -> str:
    match = re.search(rf"<{prop}>([^<]+)</{prop}>", _pom(name).read_text())
    if not match:
        raise StackError(f"{_pom(name)} has no <{prop}>")
    return match.group(1).strip()


def kafka_version() -> str:
    return _pom_property("kafka-pom.xml", "kafka.version")


def apicurio_version() -> str:
    return _pom_property("apicurio-pom.xml", "apicurio.version")


def require_tool(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise StackError(f"`{tool}` not found on PATH: {hint}")
    return path


def _mvn(args: list[str], what: str) -> None:
    mvn = require_tool("mvn", "install Maven 3.8+ (apt-get install maven)")
    local_repo = [f"-Dmaven.repo.local={os.environ['MAVEN_REPO']}"] if os.environ.get("MAVEN_REPO") else []
    proc = subprocess.run([mvn, "-B", "-q", *local_repo, *args], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        offline = "Could not transfer" in tail or "Unknown host" in tail or "Connection refused" in tail
        cause = "Maven cannot reach Maven Central (offline?)" if offline else "Maven failed"
        raise StackError(f"{cause} while fetching {what}:\n{tail}")


def kafka_libs() -> Path:
    return cache_dir() / f"kafka-{kafka_version()}" / "libs"


def ensure_kafka() -> Path:
    """Kafka broker classpath (downloaded once; a marker file says the copy completed)."""
    libs = kafka_libs()
    marker = libs / ".complete"
    if not marker.exists():
        _mvn(
            [
                "-f",
                str(_pom("kafka-pom.xml")),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ],
            f"Apache Kafka {kafka_version()}",
        )
        marker.write_text("ok\n")
    return libs


def apicurio_home() -> Path:
    return cache_dir() / f"apicurio-{apicurio_version()}"


def ensure_apicurio() -> Path:
    """Apicurio Registry runner jar. The app's parent POM is not on Central, so fetch the zip
    non-transitively (dependency:get) and unpack it ourselves."""
    home = apicurio_home()
    version = apicurio_version()
    runner = home / f"apicurio-registry-app-{version}-runner.jar"
    if runner.exists():
        return runner
    _mvn(
        ["dependency:get", f"-Dartifact=io.apicurio:apicurio-registry-app:{version}:zip:all", "-Dtransitive=false"],
        f"Apicurio Registry {version}",
    )
    repo = Path(os.environ.get("MAVEN_REPO", Path.home() / ".m2" / "repository"))
    archive = repo / "io" / "apicurio" / "apicurio-registry-app" / version / f"apicurio-registry-app-{version}-all.zip"
    if not archive.exists():
        raise StackError(f"Maven reported success but {archive} is missing (custom local repository? set MAVEN_REPO)")
    tmp = home.with_suffix(".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp)
    shutil.rmtree(home, ignore_errors=True)
    tmp.rename(home)
    return runner
