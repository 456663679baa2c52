"""Work spread over a Prefect work pool: one flow run of a deployment per piece of work (a
backfill's chunk, a site of a sweep), for whichever worker takes it, and waiting for all.

The pieces go to the `chunks` queue, and the flows that start them run on `default`: a worker
busy waiting for its children must not be the one they need (prefect.yaml).
"""

from __future__ import annotations

from collections import defaultdict
from time import sleep
from typing import Any, cast
from uuid import UUID

from prefect import get_run_logger
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment

from flows.runs import flow_run_id

POLL_SECONDS = 2  # how often the waiting flow asks the server how its pieces are
RESTARTS = 2  # times a piece whose flow run crashed (its worker died) is started again


def run_on_pool(deployment: str, pieces: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Start a flow run of `deployment` per piece (its name: its parameters) and wait for all;
    each piece's final state type (COMPLETED, FAILED, ...).

    A piece whose flow run crashed, as the server marks a run whose worker stopped sending
    heartbeats (flows/deploy.py), is started again, on whichever worker takes it, up to
    RESTARTS times. The flow runs' idempotency keys are this flow run, the piece and the
    attempt, so a retried caller does not start a piece twice."""
    from prefect.client.orchestration import get_client

    logger = get_run_logger()
    parent = flow_run_id()
    attempts: dict[str, int] = defaultdict(int)

    def start(name: str) -> UUID:
        attempts[name] += 1
        again = f"-{attempts[name]}" if attempts[name] > 1 else ""
        return cast(FlowRun, run_deployment(
            deployment, timeout=0, idempotency_key=f"{parent}-{name}{again}",
            flow_run_name=name, parameters=pieces[name])).id

    waiting = {start(name): name for name in pieces}
    logger.info("Started %d flow runs of %s on the work pool", len(waiting), deployment)
    ended: dict[str, str] = {}
    with get_client(sync_client=True) as client:
        while waiting:
            sleep(POLL_SECONDS)
            for flow_run in client.read_flow_runs(flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(any_=list(waiting)))):
                if flow_run.state is None or not flow_run.state.is_final():
                    continue
                name = waiting.pop(flow_run.id)
                if flow_run.state.is_crashed() and attempts[name] <= RESTARTS:
                    logger.warning("%s crashed (%s); starting it again", name,
                                   flow_run.state.message)
                    waiting[start(name)] = name
                    continue
                ended[name] = flow_run.state.type.value
                logger.info("%s: %s (%d of %d ended)", name, flow_run.state.name, len(ended),
                            len(pieces))
    return ended


def not_completed(ended: dict[str, str]) -> list[str]:
    return sorted(name for name, end in ended.items() if end != "COMPLETED")
