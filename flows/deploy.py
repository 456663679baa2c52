"""Putting the flows on a Prefect server (`newscorpus deploy`) or serving them in one process
(`newscorpus serve`), both from the deployments declared in prefect.yaml.

`deploy` shells out to the `prefect` CLI (never through a shell: arguments are a list), which
is what an operator would type; it is idempotent: the pool is overwritten, the concurrency
limits and the automation that crashes unresponsive runs created or updated (through Prefect's
client, as `newscorpus server start` does), the deployments upserted.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from typing import Any

import yaml
from prefect import serve as prefect_serve
from prefect.schedules import Cron

from config import settings
from config.worker import POOL
from flows.runs import CRAWLS_PER_SITE, WAREHOUSE_LIMIT, crawl_limit, site_limit
from sites import available_sites

PROJECT = settings.PROJECT
PREFECT_YAML = PROJECT / "prefect.yaml"
UNRESPONSIVE = "newscorpus: crash unresponsive flow runs"


class DeployError(RuntimeError):
    """A Prefect command failed; the message carries its output."""


def concurrency_limits() -> dict[str, int]:
    """The global concurrency limits the flows take: one load at a time, few crawls a site,
    one run of a site at a time; for the sites known here (a site added later needs
    `deploy` again)."""
    return {WAREHOUSE_LIMIT: 1,
            **{crawl_limit(site): CRAWLS_PER_SITE for site in available_sites()},
            **{site_limit(site): 1 for site in available_sites()}}


def _prefect(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEWSCORPUS_HOME": str(settings.home())}
    result = subprocess.run([sys.executable, "-m", "prefect", *args], cwd=PROJECT, env=env,
                            capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise DeployError(f"`prefect {' '.join(args)}` failed: " + " / ".join(output[-3:]))
    return result


def deploy() -> list[str]:
    """Create the work pool and concurrency limits, and deploy everything in prefect.yaml."""
    if not os.environ.get("PREFECT_API_URL"):
        raise DeployError("no Prefect server: start one (`newscorpus server start`), or "
                          "export PREFECT_API_URL=<your server>/api")
    _check_server(os.environ["PREFECT_API_URL"])
    ensure_unresponsive_runs_crash()  # first: it checks a setting of the user's
    _prefect("work-pool", "create", POOL, "--type", "process", "--overwrite")
    ensure_limits()
    _prefect("--no-prompt", "deploy", "--all")
    return [d["name"] for d in _declared()]


def ensure_limits() -> None:
    """Create or update the concurrency limits on the server PREFECT_API_URL names."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        for name, limit in concurrency_limits().items():
            try:
                client.update_global_concurrency_limit(
                    name, GlobalConcurrencyLimitUpdate(limit=limit))
            except ObjectNotFound:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=limit))


def ensure_unresponsive_runs_crash() -> None:
    """Create or update the automation that marks a flow run Crashed when its heartbeats stop
    for $NEWSCORPUS_UNRESPONSIVE_AFTER seconds (90): its worker's machine died, or the worker
    was killed.

    Without it such a run stays Running for ever, and a fanned-out backfill waiting for the
    chunk waits with it; with it, the backfill sees the chunk crash and starts it again
    (flows/backfill.py). The deployments send heartbeats (prefect.yaml); Prefect's
    documented automation for "zombie" runs, which Prefect Cloud manages itself and a
    self-hosted server does not."""
    from datetime import timedelta

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    try:
        after = settings.unresponsive_after()
    except ValueError as error:
        raise DeployError(str(error)) from None
    automation = AutomationCore(
        name=UNRESPONSIVE, description="A flow run that stopped sending heartbeats is Crashed.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed",
                    "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
                    "prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
            within=timedelta(seconds=after)),
        actions=[ChangeFlowRunState(state=StateType.CRASHED, name="Crashed", force=False,
                                    message=f"No heartbeat for {after} s: the "
                                            "run's worker or machine stopped")])
    with get_client(sync_client=True) as client:
        if existing := client.read_automations_by_name(UNRESPONSIVE):
            client.update_automation(existing[0].id, automation)
        else:
            client.create_automation(automation)


def _check_server(api_url: str) -> None:
    """A server that does not answer is one line, before the `prefect` CLI's traceback."""
    import httpx

    try:
        httpx.get(f"{api_url.rstrip('/')}/health", timeout=10).raise_for_status()
    except httpx.HTTPError as error:
        raise DeployError(f"no Prefect server answers at PREFECT_API_URL={api_url} ({error}); "
                          "start one (`prefect server start --host 127.0.0.1`) or fix the "
                          "address") from None


def _declared() -> list[dict[str, Any]]:
    return yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))["deployments"]


def serve() -> None:
    """Serve every deployment of prefect.yaml, with its schedules, from this process."""
    deployments = []
    for spec in _declared():
        path, name = spec["entrypoint"].split(":")
        flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)
        limit = spec.get("concurrency_limit")
        deployments.append(flow.to_deployment(
            name=spec["name"], description=spec.get("description"),
            parameters=spec.get("parameters") or {},
            schedules=[Cron(s["cron"], timezone=s.get("timezone"), active=s.get("active", True))
                       for s in spec.get("schedules") or []] or None,
            concurrency_limit=limit["limit"] if isinstance(limit, dict) else limit))
    prefect_serve(*deployments)
