"""A stack of local processes on loopback ports chosen at run time.

Services start in waves (a service starts once everything it links to is ready), so R-DEP-4
holds by construction. Everything made — processes, ports, the temporary folder — is
recorded in the run's manifest and undone in `tear_down`, also after Ctrl-C; and in the
harness's marker (`leftovers/`), so what a killed harness leaves is removed by the next run
or `stackproof clean`.

Ports come locked from `stackproof.ports`. A service is ready when its own condition holds
*and* its own process lives and listens on its ports (`identity.py`). Once up, the stack is
watched (`watch.py`): a service that exits on its own is `failure()`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import psutil

from stackproof.backends.base import OpsAccess, ScriptProcess, ServiceControl, Stack
from stackproof.backends.process.app import AppService
from stackproof.backends.process.control import Answer, ControlServer
from stackproof.backends.process.files import LocalFiles
from stackproof.backends.process.generic import GenericService
from stackproof.backends.process.identity import ServesFrom
from stackproof.backends.process.links import SERVER_NAME, LinkNetwork
from stackproof.backends.process.nginx import NginxService
from stackproof.backends.process.ops import (
    OpsFolder,
    ops_access,
    ops_placeholders,
    prepare_ops_folder,
)
from stackproof.backends.process.partitions import LoopbackPartitions
from stackproof.backends.process.postgres import SUPERUSER, PostgresService, dsn
from stackproof.backends.process.redis import RedisService
from stackproof.backends.process.service import (
    LOOPBACK,
    ProcessService,
    ServiceContext,
    shared_placeholders,
)
from stackproof.backends.process.supervision import (
    events,
    events_path,
    service_pid,
    supervised,
)
from stackproof.backends.process.supervision import (
    kill_service as kill_supervised_service,
)
from stackproof.backends.process.watch import ExitWatcher
from stackproof.backends.values import (
    Actor,
    Capability,
    Endpoint,
    LifecycleEvent,
    LifecycleKind,
    PublicFront,
    StackFailure,
    TrialStart,
)
from stackproof.errors import (
    CapabilityMissingError,
    PreconditionError,
    ServiceStartError,
    WaitCancelledError,
)
from stackproof.fakes.discord import DiscordSigner
from stackproof.leftovers.harness import Harness
from stackproof.ports import (
    PortAllocator,
    PortInUseError,
    bindable,
    port_holders,
    ports_named_in_use,
    says_address_in_use,
)
from stackproof.procs import ManagedProcess, ProcessSpec, is_root, run_commands, tail
from stackproof.profile import Profile
from stackproof.profile.model import FileDependency
from stackproof.readiness import AllOf, Check, TcpPort, wait_for
from stackproof.run import RunContext
from stackproof.signals import deferred_interrupts
from stackproof.tls_ca import RunCA

SERVICE_KINDS: dict[str, type[ProcessService]] = {
    "postgres": PostgresService,
    "redis": RedisService,
    "nginx": NginxService,
    "app": AppService,
    "generic": GenericService,
}
SETUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0

# Where a service reaches a service it links to. Direct by default; the fault layer puts a
# proxy in between by answering with the proxy's address instead.
LinkRouter = Callable[[str, str, Endpoint], Endpoint]


def direct_link(source: str, target: str, endpoint: Endpoint) -> Endpoint:
    return endpoint


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"exit code {code}"


class ProcessServiceControl(ServiceControl):
    def __init__(self, stack: ProcessStack, service: ProcessService) -> None:
        super().__init__(service.name, service.context.spec.kind)
        self._stack = stack
        self.service = service

    @property
    def process(self) -> ManagedProcess:
        return self._stack.process(self.name)

    def endpoint(self, port: str | None = None) -> Endpoint:
        return self.service.context.endpoint(port)

    @property
    def supervised(self) -> bool:
        """Whether a supervisor restarts the service as its profile's policy says."""
        return self.service.context.spec.process.restart.enabled

    @property
    def supervisor_events(self) -> Path:
        return events_path(self.service.context.state_dir)

    @property
    def pid(self) -> int | None:
        """The service's main process (a supervised one's child), None while it is down."""
        if self.supervised:
            return service_pid(self.process)
        return self.process.pid if self.process.running() else None

    def _main_process(self) -> psutil.Process | None:
        pid = self.pid
        if pid is None:
            return None
        try:
            return psutil.Process(pid)
        except psutil.NoSuchProcess:
            return None

    def identity(self) -> str | None:
        """PID and start time: a PID alone may be reused by a new process."""
        main = self._main_process()
        if main is None:
            return None
        try:
            return f"pid {main.pid} started {main.create_time():.2f}"
        except psutil.NoSuchProcess:
            return None

    def workdir(self) -> str | None:
        main = self._main_process()
        if main is None:
            return None
        try:
            return main.cwd()
        except (psutil.Error, OSError):
            return None

    def restart_record(self) -> list[dict[str, Any]]:
        return events(self.supervisor_events)[-3:] if self.supervised else []

    def running(self) -> bool:
        return self.process.running()

    def start(self, wait: bool = True) -> None:
        self._stack.start_service(self.name, wait=wait)

    def stop(self) -> None:
        self._stack.stop_service(self.name)

    def kill(self) -> None:
        """SIGKILL the service; a supervised one's supervisor lives on and applies its policy."""
        self._stack.kill_service(self.name)

    def destroy(self) -> None:
        self._stack.destroy_service(self.name)

    def admin_url(self) -> str:
        service = self.service
        if not isinstance(service, PostgresService):
            raise CapabilityMissingError(f"{self.name} is not a database service")
        return dsn(SUPERUSER, service.superuser_password, self.endpoint(), service.database.name)

    def connection_url(self) -> str:
        return self.service.link_facts(self.endpoint())["url"]

    def pause(self) -> None:
        self.process.pause()

    def resume(self) -> None:
        self.process.resume()

    def trial_start(
        self,
        env: Mapping[str, str | None],
        timeout_s: float | None = None,
        while_ready: Callable[[], None] | None = None,
    ) -> TrialStart:
        if self.running():
            raise ServiceStartError(f"{self.name} is running: stop it before a trial start")
        spec = self.service.command()
        changed = {k: v for k, v in spec.env.items() if k not in env}
        changed |= {k: v for k, v in env.items() if v is not None}
        log = self._stack.temp_dir / f"{self.name}-trial-{time.monotonic_ns()}.log"
        trial = ManagedProcess(
            replace(spec, name=f"{self.name} (trial start)", env=changed, log_path=log),
            self._stack.run.run_id,
        )
        trial.start()
        code: int | None = None
        try:  # ends when it exits, or at once when it answers ready: it did start
            wait_for(
                self.service.readiness(),
                timeout_s=timeout_s or self.service.ready_timeout_s,
                what=spec.name,
                give_up=trial.exited_reason,
                interval_s=0.2,
            )
            if while_ready is not None:
                while_ready()
        except ServiceStartError:
            code = trial.exit_code()  # None: neither exited nor ready at the deadline
        finally:
            trial.stop(STOP_TIMEOUT_S)
        output = log.read_text("utf-8", errors="replace") if log.exists() else ""
        return TrialStart(code, "\n".join(output.splitlines()[1:]))  # less our own header

    @contextmanager
    def restarted_with(self, env: Mapping[str, str | None]) -> Iterator[TrialStart | None]:
        spec = self.service.command()
        if unknown := sorted(set(env) - set(spec.env)):
            raise PreconditionError(
                f"{self.name}'s environment has no {', '.join(unknown)}: taking it away "
                "would change nothing (services.<name>.process.env)"
            )
        changed = {k: v for k, v in spec.env.items() if k not in env}
        changed |= {k: v for k, v in env.items() if v is not None}
        log = self._stack.temp_dir / f"{self.name}-changed-env-{time.monotonic_ns()}.log"
        self.stop()
        try:
            changed_run = ManagedProcess(
                replace(spec, name=f"{self.name} (changed env)", env=changed, log_path=log),
                self._stack.run.run_id,
            )
            changed_run.start()
            try:
                endpoint = self.endpoint()
                outcome: TrialStart | None = None
                try:
                    wait_for(
                        TcpPort(endpoint.host, endpoint.port),
                        timeout_s=self.service.ready_timeout_s,
                        what=f"{changed_run.spec.name} listening",
                        give_up=changed_run.exited_reason,
                        interval_s=0.05,
                    )
                except ServiceStartError:
                    output = log.read_text("utf-8", errors="replace") if log.exists() else ""
                    outcome = TrialStart(
                        changed_run.exit_code(), "\n".join(output.splitlines()[1:])
                    )
                yield outcome
            finally:
                changed_run.stop(STOP_TIMEOUT_S)
        finally:
            self.start(wait=True)

    def exec(
        self, argv: Sequence[str], timeout_s: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        harness = Harness.current()  # in its cgroup, with its ID: dies with a killed harness
        return subprocess.run(
            [*harness.spawn_prefix(), *argv],
            env={**self.service.exec_env(), **harness.spawn_env()},
            cwd=self.service.context.stack_root,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def logs(self) -> str:
        return "\n".join(
            path.read_text("utf-8", errors="replace")
            for path in self.service.log_files()
            if path.exists()
        )

    def run_once(self, *, without_env: Sequence[str], timeout_s: float) -> tuple[int | None, str]:
        if self.running():
            raise RuntimeError(f"{self.name} is running; stop it before running it by hand")
        spec = self.service.command()
        env = {k: v for k, v in spec.env.items() if k not in without_env}
        harness = Harness.current()
        process = subprocess.Popen(
            [*harness.spawn_prefix(), *spec.argv],
            env={**env, **harness.spawn_env()},
            cwd=spec.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own group: a timeout kills all it started
        )
        harness.adopt(process.pid)
        self._stack.run.record(
            "process", stack=self._stack.label, service=self.name, pid=process.pid
        )
        try:
            output, _ = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            return None, output
        except BaseException:  # Ctrl-C: its own session got no SIGINT; leave nothing behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        return process.returncode, output


class ProcessStack(Stack):
    capabilities = frozenset(
        {Capability.CONTROL, Capability.LOGS, Capability.EXEC, Capability.OPS, Capability.FILES}
    )

    def __init__(
        self,
        profile: Profile,
        run: RunContext,
        label: str,
        link_router: LinkRouter = direct_link,
        network: LinkNetwork | None = None,
        *,
        ports: PortAllocator | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        super().__init__(profile, run, label)
        self.link_router = link_router
        self.network: LinkNetwork | None = network
        self.ports = ports or PortAllocator(f"{run.run_id}/{label}")
        # What the report should say about how the stack came up (a restart on fresh ports).
        self.notes: list[str] = list(notes)
        self.partitions: LoopbackPartitions = LoopbackPartitions(run, label, self.partition_ports)
        self.discord = DiscordSigner()
        self.ready_after_s: float | None = None
        self.secret_values: dict[str, str] = {}  # the profile's `secrets`, made for this run
        self.wave_seconds: list[tuple[list[str], float]] = []
        self._services: dict[str, ProcessService] = {}
        self._processes: dict[str, ManagedProcess] = {}
        self._ready_once: set[str] = set()
        self._temp: Path | None = None
        self._front: PublicFront | None = None
        self._cleanup = ExitStack()
        # Service control comes from the test (main thread) and from ops scripts (the
        # control thread); one lock keeps their spawns, stops and wipes apart.
        self._control_lock = threading.RLock()
        self._events: list[LifecycleEvent] = []
        self._destroyed: set[str] = set()
        self._stopped_on_request: set[str] = set()
        self._closing = False
        self._ops: OpsFolder | None = None
        self._ops_access: OpsAccess | None = None
        self._log_offsets: dict[str, dict[Path, int]] = {}
        self._starting = True  # until bring_up is done: a port conflict is retried
        self._failure: StackFailure | None = None
        self._watcher: ExitWatcher | None = None

    # --- what the suites see ---

    @property
    def public(self) -> PublicFront:
        if self._front is None:
            raise RuntimeError("the stack is not up")
        return self._front

    def service(self, name: str) -> ProcessServiceControl:
        if name not in self._services:
            known = ", ".join(self._services) or "none yet"
            raise KeyError(f"no service {name!r} in this stack (it has {known})")
        return ProcessServiceControl(self, self._services[name])

    def process(self, name: str) -> ManagedProcess:
        return self._processes[name]

    def lifecycle(self) -> list[LifecycleEvent]:
        with self._control_lock:
            return list(self._events)

    def failure(self) -> StackFailure | None:
        """The service that exited on its own and has not been started again since."""
        with self._control_lock:
            return self._failure

    def secret(self, name: str) -> str:
        if name not in self.secret_values:
            known = ", ".join(self.secret_values) or "none"
            raise KeyError(f"no secret {name!r} in the profile's secrets ({known})")
        return self.secret_values[name]

    def ops(self) -> OpsAccess:
        if self._ops_access is None:
            raise RuntimeError("the stack is not up")
        if self.profile.ops is None:
            raise CapabilityMissingError(
                "the profile has no [ops] section naming its scripts", enable="[ops]"
            )
        return self._ops_access

    def start_script(
        self, operation: str, args: Sequence[str], env: Mapping[str, str], log_path: Path
    ) -> ScriptProcess:
        """A process of the run in the stack's root, as cron would start it there."""
        ops = self.ops()
        spec = ProcessSpec(
            name=f"ops.{operation}",
            argv=tuple(ops.command(operation, *args)),
            env={**ops.env, **env},
            cwd=Path(ops.cwd),
            log_path=log_path,
        )
        process = ManagedProcess(spec, self.run.run_id)
        process.start()
        self.run.record("process", stack=self.label, service=spec.name, pid=process.pid)
        return process

    def files(self) -> LocalFiles:
        return LocalFiles()

    def dependency_file(self, service: str, dependency: FileDependency) -> PurePosixPath:
        context = self._services[service].context
        key = f"health.depends_on_files[{dependency.name}].path"
        path = Path(context.render(dependency.path, key))
        if not path.is_absolute():
            path = context.stack_root / path
        path = Path(os.path.normpath(path))
        made = self._temp  # every file of the stack this run made lies under it
        if not dependency.outside_run and (made is None or not path.is_relative_to(made)):
            raise PreconditionError(
                f"services.{service}.{key}: {path} is not among the files this run made "
                f"(under {made}); the suite takes away only those unless the profile "
                "says outside_run = true"
            )
        return PurePosixPath(path)

    def signer(self) -> DiscordSigner:
        return self.discord

    def partition_ports(self, service: str) -> list[int]:
        """The ports that reach `service` or that it reaches: its own, and its links' proxies."""
        control = self.service(service)
        ports = {control.endpoint(port).port for port in self.profile.services[service].ports}
        if self.network is not None:
            for link in self.network.links.values():
                if service in (link.source, link.target):
                    ports.add(link.listen.port)
        return sorted(ports)

    @property
    def temp_dir(self) -> Path:
        if self._temp is None:
            raise RuntimeError("the stack is not up")
        return self._temp

    # --- bringing up ---

    def bring_up(self) -> None:
        started = time.monotonic()
        try:
            self._cleanup.callback(self.ports.release)  # the very last: nothing listens now
            self._cleanup.callback(self.partitions.close)  # after every process
            Harness.current().record("stack", run_id=self.run.run_id, label=self.label)
            if self.network is not None:
                self._cleanup.callback(self.network.close)
                self.network.start(self.ports)
            self._build()
            for wave in self.profile.start_order():
                wave_started = time.monotonic()
                self._start_wave(wave)
                self.wave_seconds.append((wave, time.monotonic() - wave_started))
            self._watch()
        except BaseException:
            self.tear_down()
            raise
        self._starting = False
        self.ready_after_s = time.monotonic() - started
        self.run.record("stack_ready", stack=self.label, seconds=round(self.ready_after_s, 3))

    # --- watching it serve ---

    def _watched(self) -> dict[str, ManagedProcess]:
        with self._control_lock:
            watched = dict(self._processes)
        server = self.network.server_process if self.network is not None else None
        if server is not None:
            watched[SERVER_NAME] = server
        return watched

    def _watch(self) -> None:
        self._watcher = ExitWatcher(self._watched, self._exited, self.label)
        self._watcher.start()
        self._cleanup.callback(self._watcher.close)  # first at tear-down: exits are asked for

    def _exited(self, name: str, process: ManagedProcess) -> None:
        """The watcher saw `process` exit: a failure, unless the harness (or service control)
        asked for it. A supervised service's restarts happen inside its supervisor, unseen
        here; the supervisor exiting is the service gone."""
        with self._control_lock:
            if self._closing or process.exit_expected or self._failure is not None:
                return
            try:
                code: int | None = process.wait(timeout_s=5.0)
            except subprocess.TimeoutExpired:
                code = None
            how = describe_exit(code)
            if name in self._services and self.service(name).supervised:
                how = f"its supervisor ended: {how}; see the supervisor's lines in its log"
            self._failure = StackFailure(
                service=name,
                exit_status=code,
                detail=f"exited after the stack was up, unasked ({how})",
                log_tail=self._log_tail(name)() if name in self._services else process.log_tail(),
                at=time.monotonic(),
            )
            self.run.record("stack_failure", stack=self.label, service=name, exit_status=code)

    def _make_temp_dir(self, prefix: str | None = None) -> Path:
        temp = Path(
            tempfile.mkdtemp(prefix=prefix or f"stackproof-{self.run.run_id}-{self.label}-")
        )
        self.run.record("temp_dir", stack=self.label, path=str(temp))
        Harness.current().record("temp_dir", path=str(temp))
        self._cleanup.callback(remove_tree, temp)
        if is_root() and prefix is None:  # PostgreSQL, unprivileged, must reach its folder
            temp.chmod(0o711)
        return temp

    def _build(self) -> None:
        self._temp = temp = self._make_temp_dir()
        self._ops = OpsFolder.plan(temp, self.profile, self._make_temp_dir("stackproof-ctl-"))
        logs_dir = self.run.logs_dir(self.label)
        names = list(self.profile.services)
        numbers = iter(self.ports.allocate(sum(len(self.profile.services[n].ports) for n in names)))
        ports = {n: {p: next(numbers) for p in self.profile.services[n].ports} for n in names}
        self.run.record("ports", stack=self.label, ports=ports)
        shared = self._shared_placeholders(temp, ports)
        for name in names:
            spec = self.profile.services[name]
            context = ServiceContext(
                name=name,
                spec=spec,
                profile=self.profile,
                run=self.run,
                ports=ports[name],
                state_dir=temp / name,
                logs_dir=logs_dir,
                shared=shared,
            )
            self._services[name] = SERVICE_KINDS[spec.kind](context)
        self._build_ops(shared, logs_dir)

    def _build_ops(self, shared: dict[str, Any], logs_dir: Path) -> None:
        """The ops folder, its rendered config, and the control socket scripts use."""
        assert self._ops is not None
        links = {
            name: service.link_facts(service.context.endpoint())
            for name, service in self._services.items()
        }
        root = self.profile.stack.root
        assert root is not None  # ProcessBackend.check demands it
        context = ops_placeholders(
            profile=self.profile,
            folder=self._ops,
            logs_dir=logs_dir,
            root=root,
            shared=shared,
            links=links,
        )
        prepare_ops_folder(self.profile, self._ops, context)
        base_env = {**next(iter(self._services.values())).context.base_env()}
        base_env["HOME"] = str(self._ops.path)
        self._ops_access = ops_access(self.profile, self._ops, context, base_env)
        server = ControlServer(self._ops.socket, self._control)
        self._cleanup.callback(server.close)
        server.start()
        self.run.record("control_socket", stack=self.label, path=str(self._ops.socket))

    def _shared_placeholders(self, temp: Path, ports: dict[str, dict[str, int]]) -> dict[str, Any]:
        settings = self.profile.stack
        public = self.profile.public
        https = Endpoint(LOOPBACK, ports[public.service][public.https_port])
        http = Endpoint(LOOPBACK, ports[public.service][public.http_port])
        (temp / "tls").mkdir()
        ca = RunCA(temp / "tls")
        certificate = ca.issue(
            "server",
            settings.certificate_names or [settings.public_host, LOOPBACK],
            settings.certificate_days,
        )
        self._front = PublicFront(settings.public_host, https, http, ca.ca_path)
        self.secret_values = {
            n: self.run.secrets.generate(f"secret.{n}") for n in self.profile.secrets
        }
        return shared_placeholders(
            run_id=self.run.run_id,
            front=self._front,
            tls={"cert": certificate.cert_path, "key": certificate.key_path, "ca": ca.ca_path},
            discord_public_key=self.discord.public_key_hex,
            secrets=self.secret_values,
            ops=self._ops.placeholders() if self._ops else None,
            python=self.profile.stack.interpreter(),
        )

    def _resolve_links(self, name: str) -> None:
        context = self._services[name].context
        for target in context.spec.links:
            target_service = self._services[target]
            endpoint = self.link_router(name, target, target_service.context.endpoint())
            context.links[target] = target_service.link_facts(endpoint)

    def _start_wave(self, wave: list[str]) -> None:
        one_shots: list[ProcessSpec] = []
        for name in wave:
            self._resolve_links(name)
            one_shots.extend(self._services[name].prepare())
        run_commands(one_shots, self.run.run_id, SETUP_TIMEOUT_S)
        for name in wave:
            self.spawn(name)
        self.await_ready(wave)

    def spawn(self, name: str, by: Actor = "harness") -> None:
        service = self._services[name]
        with self._control_lock:
            if name not in self._processes:
                command = service.command()
                restart = service.context.spec.process.restart
                if restart.enabled:
                    command = supervised(command, restart, events_path(service.context.state_dir))
                process = ManagedProcess(command, self.run.run_id)
                self._processes[name] = process
                self._cleanup.callback(process.stop, STOP_TIMEOUT_S)
                harness = Harness.current()
                for pid_file in service.pid_files():
                    harness.record(
                        "pid_file", path=str(pid_file), names=str(service.context.state_dir)
                    )
            self._log_offsets[name] = {
                path: path.stat().st_size if path.exists() else 0 for path in service.log_files()
            }
            pid = self._processes[name].start()
            self._stopped_on_request.discard(name)
            self._note(name, "spawn", by)
            if self._failure is not None and self._failure.service == name:
                # Started again (a deploy rolling back from a release that crashed, say):
                # the stack serves again; an exit of the new process is judged afresh.
                self.run.record("stack_failure_cleared", stack=self.label, service=name, by=by)
                self._failure = None
        if self._watcher is not None:
            self._watcher.rearm()
        self.run.record("process", stack=self.label, service=name, pid=pid)

    def _note(self, name: str, kind: LifecycleKind, by: Actor) -> None:
        with self._control_lock:
            self._events.append(LifecycleEvent(name, kind, time.monotonic(), by))

    # --- service control, from the suites and from ops scripts (control.py) ---

    def start_service(self, name: str, *, wait: bool, by: Actor = "harness") -> None:
        """Run `name` if it does not run; provision it afresh if its state was destroyed."""
        with self._control_lock:
            if self._closing:
                raise ServiceStartError(f"{name}: the stack is shutting down")
            fresh = name in self._destroyed
            if fresh:
                run_commands(self._services[name].prepare(), self.run.run_id, SETUP_TIMEOUT_S)
                self._destroyed.discard(name)
                self._ready_once.discard(name)  # bootstrap again (roles, database)
            if not self.process(name).running():
                self.spawn(name, by)
        if wait or fresh:
            self.await_ready([name], by)

    def stop_service(self, name: str, by: Actor = "harness") -> None:
        # The process has a lock of its own; holding the stack's while it exits would make
        # side-by-side stops wait for each other.
        self.process(name).stop(STOP_TIMEOUT_S)
        with self._control_lock:
            self._stopped_on_request.add(name)
            self._note(name, "stop", by)

    def kill_service(self, name: str, by: Actor = "harness") -> None:
        with self._control_lock:
            if self._services[name].context.spec.process.restart.enabled:
                # The supervisor applies its policy; if that is to give up, its exit follows
                # from this kill, and is no failure of the stack.
                self.process(name).expect_exit()
                kill_supervised_service(self.process(name))
            else:
                self.process(name).kill()
            self._note(name, "kill", by)

    def destroy_service(self, name: str, by: Actor = "harness") -> None:
        """SIGKILL, then wipe the service's state: the next start provisions it afresh."""
        with self._control_lock:
            self.process(name).kill()
            self._note(name, "kill", by)
            self._services[name].wipe_state()
            self._destroyed.add(name)
            self._stopped_on_request.add(name)
            self._note(name, "destroy", by)
            self.run.record("destroyed", stack=self.label, service=name)

    def service_state(self, name: str) -> Answer:
        process = self._processes.get(name)
        if process is None or name in self._destroyed:
            return {"state": "stopped", "pid": None, "exit_code": None}
        if process.running():
            return {"state": "running", "pid": process.pid, "exit_code": None}
        state = "stopped" if name in self._stopped_on_request else "exited"
        return {"state": state, "pid": None, "exit_code": process.exit_code()}

    def _control(self, action: str, names: tuple[str, ...], wait: bool) -> Answer:
        """Answer one request of an ops script (runs on the control thread)."""
        for name in names:
            if name not in self._services:
                known = ", ".join(self._services)
                raise KeyError(f"no service {name!r} (the stack has {known})")
            if name not in self._processes:
                raise ServiceStartError(f"{name} has not been started by the stack yet")
        if action in ("stop", "restart"):
            # Side by side: each waits for its own graceful exit. Stopping spawns nothing,
            # so plain threads may do it.
            with ThreadPoolExecutor(max_workers=len(names)) as pool:
                for done in [pool.submit(self.stop_service, n, "control") for n in names]:
                    done.result()
        if action in ("start", "restart"):
            for name in names:  # a destroyed service is provisioned and awaited here
                self.start_service(name, wait=False, by="control")
            if wait:
                self.await_ready(list(names), "control")
        return {"ok": True, "services": {n: self.service_state(n) for n in names}}

    def _log_tail(self, name: str) -> Callable[[], str]:
        def read() -> str:
            files = self._services[name].log_files()
            return "\n".join(f"[{path.name}]\n{tail(path)}" for path in files if path.exists())

        return read

    def readiness(self, name: str) -> AllOf:
        """The service's own condition, and its own process alive on its own ports."""
        service = self._services[name]
        ports = list(service.context.ports.values())
        return AllOf((service.readiness(), ServesFrom(self._processes[name], ports)))

    def _since_spawn(self, name: str) -> str:
        """What the service's logs gained since its last spawn."""
        text = []
        for path, offset in self._log_offsets.get(name, {}).items():
            with contextlib.suppress(OSError), path.open("rb") as log:
                log.seek(offset)
                text.append(log.read().decode("utf-8", errors="replace"))
        return "\n".join(text)

    def _port_conflict(self, name: str) -> PortInUseError | None:
        """During bring-up: whether `name` failed because a program outside the run's locks
        took one of its ports (its log says "address in use")."""
        if not self._starting or self._processes[name].running():
            return None
        ports = list(self._services[name].context.ports.values())
        since = self._since_spawn(name)
        if not says_address_in_use(since):
            return None
        taken = ports_named_in_use(since, ports) | {p for p in ports if not bindable(p)}
        return PortInUseError(name, taken or ports, port_holders(taken or ports))

    def await_ready(self, names: Sequence[str], by: Actor = "harness") -> None:
        """Wait for `names` side by side; the first failure cancels the other waits."""
        cancel = threading.Event()

        def wait(name: str) -> None:
            service = self._services[name]
            try:
                wait_for(
                    self.readiness(name),
                    timeout_s=service.ready_timeout_s,
                    what=f"service {name!r}",
                    hint=f"see its log in {self.run.logs_dir(self.label)}",
                    log_tail=self._log_tail(name),
                    give_up=self._processes[name].exited_reason,
                    cancel=cancel,
                )
                if name not in self._ready_once:
                    service.after_first_ready()
                    self._ready_once.add(name)
                self._note(name, "ready", by)
            except WaitCancelledError:
                raise
            except ServiceStartError as error:
                cancel.set()
                if conflict := self._port_conflict(name):
                    for note in getattr(error, "__notes__", []):
                        conflict.add_note(note)
                    raise conflict from error
                raise
            except BaseException:
                cancel.set()
                raise

        if len(names) == 1:
            wait(names[0])
            return
        pool = ThreadPoolExecutor(max_workers=len(names))
        try:
            futures = [pool.submit(wait, name) for name in names]
            errors = [error for error in (f.exception() for f in futures) if error is not None]
        except (
            BaseException
        ):  # Ctrl-C while waiting: end the other waits now, not at their deadlines
            cancel.set()
            raise
        finally:
            pool.shutdown(wait=True)
        if errors:  # report the failure that cancelled the others, not a cancellation
            genuine = [e for e in errors if not isinstance(e, WaitCancelledError)]
            raise (genuine or errors)[0]

    # --- tearing down ---

    def tear_down(self) -> None:
        """Stop every process (dependants first) and remove the temporary folder."""
        with deferred_interrupts():
            with self._control_lock:
                self._closing = True  # ops scripts may no longer start anything
            self._cleanup.close()
            self._processes.clear()
            self.run.record("stack_down", stack=self.label, pid=os.getpid())


class TreeRemoved:
    """A folder removed, again at each look: a child killed a moment ago (a `cp -a` of the
    initdb template cut off by Ctrl-C) may still be writing into it as it goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"{path} removed"

    def check(self) -> Check:
        shutil.rmtree(self.path, ignore_errors=True)
        return Check(not self.path.exists(), "still there" if self.path.exists() else "gone")


def remove_tree(path: Path, timeout_s: float = 10.0) -> None:
    """Remove `path`, within a deadline; what stays is on the harness's record for
    `stackproof clean`."""
    with contextlib.suppress(ServiceStartError):
        wait_for(TreeRemoved(path), timeout_s=timeout_s, what=f"removing {path}", interval_s=0.1)
