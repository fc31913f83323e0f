"""``unirouter demo``: the server, live, with synthetic traffic and agents (SPEC §6.2).

One process runs three things on one asyncio loop, talking to each other only over loopback HTTP and
WebSocket, as outside clients would:

* the server (``serve``) on the bundled example configuration over an SQLite file;
* a traffic generator replaying the simulator's traffic model (:mod:`unirouter.sim.traffic`, the
  bundled ``demo_traffic.yaml``) in real time: intakes at the model's arrival times, and customers
  who give up (cancel) after their drawn patience if nobody has answered;
* synthetic agents, one per agent but the human one: each sets itself available, opens its own
  ``WS /v1/agents/{id}/stream``, answers offers after the model's response delay (accepting with the
  model's probability), works each item for its drawn handle time, completes it and closes it after
  its wrap-up.

It prints a ready sign-in link per web interface (the token in the URL fragment only) and the chat
widget's link, the API URLs and ready tokens (admin, supervisor, intake, and the human agent's), runs until
``--duration`` has passed or Ctrl-C, and stops cleanly. ``--speed`` compresses time (tests, demos in
a hurry): every gap, delay and duration is divided by it.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import random
import secrets
import shutil
import signal
import socket
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from websockets.asyncio.client import connect as ws_connect

from unirouter.config import channels as channel_models
from unirouter.config import model
from unirouter.server import app as server_app
from unirouter.server import auth
from unirouter.server.host import EngineHost
from unirouter.sim import scenario, traffic

__all__ = [
    "TRAFFIC",
    "DemoOptions",
    "DemoTokens",
    "load_traffic",
    "make_tokens",
    "run",
    "with_mail_intake",
    "with_widget",
]

#: The bundled traffic model the demo replays (its ``config:`` is the example configuration).
TRAFFIC = "demo_traffic.yaml"
Echo = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    db: str | None = None  # None: a fresh SQLite file in a temporary folder
    host: str = "127.0.0.1"
    port: int = 8000
    human: str = "alice"
    duration_s: float | None = None  # None: until Ctrl-C
    speed: float = 1.0
    seed: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoTokens:
    admin: str
    supervisor: str
    intake: str
    agents: dict[str, str]


@dataclass(slots=True)
class _Shared:
    """What the generator knows about each item it sent (the agents read the handle times)."""

    url: str
    tokens: DemoTokens
    speed: float
    rng: random.Random
    sent: dict[str, traffic.Generated] = field(default_factory=dict)
    #: The channel adapters of the demo's server (its SMTP listener's address).
    channels: Any = None
    #: The chat widget's key (None: the replayed configuration has no widget).
    widget_key: str | None = None
    submitted: int = 0
    handled: int = 0
    abandoned: int = 0


def with_mail_intake(config: model.Config, folder: Path) -> model.Config:
    """The demo's configuration with an SMTP intake on a free loopback port for its ``email``
    workstream (issue 9), unless it configures email itself."""
    ws = config.workstreams.get("email")
    if config.channels.email is not None or ws is None or ws.kind is not model.Kind.RECORD:
        return config
    email = channel_models.EmailChannel(workstream="email", address="help@demo.test",
                                        smtp=channel_models.SmtpListener(port=0))  # fmt: skip
    channels = config.channels.model_copy(
        update={"email": email, "attachments_dir": str(folder / "attachments")}
    )
    return config.model_copy(update={"channels": channels})


def with_widget(config: model.Config) -> model.Config:
    """The demo's configuration with the customer chat widget (issue 8) on its first messaging
    workstream under a fresh widget key, unless it configures a widget itself."""
    chats = [n for n, ws in config.workstreams.items() if ws.kind is model.Kind.MESSAGING]
    if config.channels.widget is not None or not chats:
        return config
    widget = channel_models.WidgetChannel(workstream=chats[0],
                                          key="wk_" + secrets.token_urlsafe(16))  # fmt: skip
    return config.model_copy(
        update={"channels": config.channels.model_copy(update={"widget": widget})}
    )


def load_traffic() -> scenario.Scenario:
    source = resources.files("unirouter").joinpath("examples", TRAFFIC)
    with resources.as_file(source) as path:
        return scenario.load(path)


def make_tokens(host: EngineHost, agents: list[str]) -> DemoTokens:
    """Ready tokens, only their hashes stored (SPEC §6.3)."""
    store = host.store
    return DemoTokens(
        admin=auth.create_token(store, model.Role.ADMIN, None, "demo admin"),
        supervisor=auth.create_token(store, model.Role.SUPERVISOR, None, "demo supervisor"),
        intake=auth.create_token(store, model.Role.INTAKE, None, "demo traffic"),
        agents={a: auth.create_token(store, model.Role.AGENT, a, f"demo {a}") for a in agents},
    )


class _Server(uvicorn.Server):
    """Ctrl-C (or SIGTERM) first stops the synthetic clients, then the server."""

    stop_requested: asyncio.Event

    def handle_exit(self, sig: int, frame: Any) -> None:
        asyncio.get_event_loop().call_soon_threadsafe(self.stop_requested.set)


def run(options: DemoOptions, echo: Echo) -> None:
    """Run the demo until ``duration_s`` or Ctrl-C (blocking)."""
    if options.db is not None:
        _run(options, options.db, echo)
        return
    # A log of its own in a temporary folder (with the mail attachments), removed at the end:
    # pass --db FILE to keep it (docs/replay.md captures a demo's log).
    folder = Path(tempfile.mkdtemp(prefix="unirouter-demo-"))
    try:
        _run(options, str(folder / "demo.db"), echo)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        echo(f"removed {folder} (--db FILE keeps the log)")


def _run(options: DemoOptions, db: str, echo: Echo) -> None:
    loaded = load_traffic()
    config = with_widget(with_mail_intake(loaded.config, Path(db).parent))
    app, host, said = server_app.open_app(db, config)
    agents = [a.id for a in host.engine.agents()]
    if options.human not in agents:
        host.store.close()
        raise ValueError(f"--human must name an agent of the demo ({', '.join(agents)})")
    tokens = make_tokens(host, agents)
    sock = server_app.listen_socket(options.host, options.port)
    shown = f"[{options.host}]" if ":" in options.host else options.host
    url = f"http://{shown}:{sock.getsockname()[1]}"
    served = server_app.uvicorn_config(app, app.state.limits, log_level="warning", lifespan="on")
    server = _Server(served)
    seed = loaded.seed if options.seed is None else options.seed
    shared = _Shared(url=url, tokens=tokens, speed=options.speed, rng=random.Random(seed))
    shared.channels = app.state.channels
    widget = host.engine.config.channels.widget  # a replayed log keeps the key it started with
    shared.widget_key = widget.key if widget is not None else None
    echo(f"unirouter demo: {said}; log in {db}")
    # uvicorn re-raises the signal it caught once it has stopped; a quiet handler makes a clean
    # stop exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)
    asyncio.run(_main(server, sock, shared, loaded, options, seed, echo))


async def _main(
    server: _Server,
    sock: socket.socket,
    shared: _Shared,
    loaded: scenario.Scenario,
    options: DemoOptions,
    seed: int,
    echo: Echo,
) -> None:
    server.stop_requested = asyncio.Event()
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            return
        await asyncio.sleep(0.01)
    _announce(shared, options.human, echo)
    others = [a for a in shared.tokens.agents if a != options.human]
    tasks = [asyncio.create_task(_agent(shared, a, loaded.behaviour)) for a in others]
    tasks.append(asyncio.create_task(_traffic(shared, loaded, seed)))
    stop = asyncio.create_task(server.stop_requested.wait())
    await asyncio.wait([stop, serving], timeout=options.duration_s,
                       return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    for task in [*tasks, stop]:
        task.cancel()
    await asyncio.gather(*tasks, stop, return_exceptions=True)
    server.should_exit = True
    await serving
    echo(f"unirouter demo stopped: {shared.submitted} items submitted, {shared.handled} handled "
         f"by synthetic agents, {shared.abandoned} abandoned")  # fmt: skip


def _announce(shared: _Shared, human: str, echo: Echo) -> None:
    url, tokens = shared.url, shared.tokens
    ws = "ws" + url.removeprefix("http")
    echo(f"unirouter serving on {url}")
    # The web interfaces, each a ready sign-in link: the token rides in the fragment only, which a
    # browser never sends to a server (no access log sees it); the page takes it out of the bar.
    echo(f"  web            {url}/   (or open a link below)")
    echo(f"  agent desktop  {url}/ui/#token={tokens.agents[human]}&next=agent   (you are {human})")
    echo(f"  console        {url}/ui/#token={tokens.supervisor}&next=console")
    echo(f"  configuration  {url}/ui/#token={tokens.admin}&next=config")
    if shared.widget_key is not None:
        echo(f"  chat widget    {url}/ui/widget/#key={shared.widget_key}   (be a customer)")
    echo(f"  API            {url}/v1   (OpenAPI: {url}/openapi.json, docs: {url}/docs)")
    echo(f"  event stream   {url}/v1/events?follow=true")
    echo(f"  {human}'s stream {ws}/v1/agents/{human}/stream")
    mail = shared.channels.describe()["email"] if shared.channels is not None else None
    if mail is not None and "smtp" in mail:
        smtp = mail["smtp"]
        echo(
            f"  mail (SMTP)    {smtp['host']}:{smtp['port']}   (send any mail there: it becomes "
            f"an email item, e.g. swaks --server {smtp['host']}:{smtp['port']} --to help@demo.test)"
        )
    echo("ready tokens (Authorization: Bearer TOKEN):")
    echo(f"  admin       {tokens.admin}")
    echo(f"  supervisor  {tokens.supervisor}")
    echo(f"  intake      {tokens.intake}")
    echo(f"  agent {human} (you) {tokens.agents[human]}")
    echo(f"Play {human}: open the agent desktop link and set yourself Available (or PUT "
         f"{url}/v1/agents/{human}/presence), chat in the widget as a customer, and watch both on "
         f"the console. Ctrl-C stops the demo.")  # fmt: skip


# -- the traffic generator --------------------------------------------------------------------------


async def _traffic(shared: _Shared, loaded: scenario.Scenario, seed: int) -> None:
    """Send the model's arrivals at their times (divided by ``speed``) from now on."""
    generator = traffic.Generator(loaded.arrivals, seed=seed, factor=1.0, until=math.inf)
    due: list[tuple[float, int]] = []
    for source in generator.sources:
        first = generator.next_time(source, 0.0)
        if first is not None:
            heapq.heappush(due, (first, source))
    loop = asyncio.get_running_loop()
    started = loop.time()
    headers = {"Authorization": f"Bearer {shared.tokens.intake}"}
    customers: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(base_url=shared.url, headers=headers, timeout=30) as client:
        try:
            while due:
                at, source = heapq.heappop(due)
                await asyncio.sleep(max(0.0, started + at / shared.speed - loop.time()))
                item = generator.item(source)
                task = asyncio.create_task(_customer(shared, client, item))
                customers.add(task)
                task.add_done_callback(customers.discard)
                following = generator.next_time(source, at)
                if following is not None:
                    heapq.heappush(due, (following, source))
        finally:
            waiting = list(customers)
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)


async def _customer(shared: _Shared, client: httpx.AsyncClient, item: traffic.Generated) -> None:
    """One arrival: submit it, then give up after the drawn patience unless answered."""
    intake = item.intake
    body: dict[str, Any] = {"external_id": intake.external_id, "workstream": intake.workstream,
                            "attributes": intake.attributes, "customer": intake.customer}  # fmt: skip
    if intake.priority is not None:
        body["priority"] = intake.priority
    try:
        response = await client.post("/v1/work-items", json=body)
    except httpx.HTTPError:
        return
    if response.status_code not in (200, 201):
        return
    item_id = response.json()["id"]
    shared.sent[item_id] = item
    shared.submitted += 1
    if item.patience_s is None:
        return
    await asyncio.sleep(item.patience_s / shared.speed)
    state = (await client.get(f"/v1/work-items/{item_id}")).json().get("state")
    if state in ("queued", "offered", "routing"):
        cancelled = await client.post(f"/v1/work-items/{item_id}/cancel")
        shared.abandoned += cancelled.status_code == 200


# -- synthetic agents -------------------------------------------------------------------------------


async def _agent(shared: _Shared, agent: str, behaviour: scenario.AgentBehaviour) -> None:
    """Be available, hold the stream open, answer offers and work what is assigned."""
    token = shared.tokens.agents[agent]
    headers = {"Authorization": f"Bearer {token}"}
    ws_url = "ws" + shared.url.removeprefix("http") + f"/v1/agents/{agent}/stream"
    async with httpx.AsyncClient(base_url=shared.url, headers=headers, timeout=30) as client:
        await client.put(f"/v1/agents/{agent}/presence", json={"presence": "available"})
        work: set[asyncio.Task[None]] = set()

        def spawn(job: Awaitable[None]) -> None:
            task = asyncio.ensure_future(_quietly(job))
            work.add(task)
            task.add_done_callback(work.discard)

        try:
            async with ws_connect(ws_url, additional_headers=headers) as ws:
                async for raw in ws:
                    event = json.loads(raw).get("event") or {}
                    if event.get("agent") != agent:
                        continue
                    if event.get("type") == "offer_made":
                        spawn(_answer(shared, client, behaviour, event["offer"]))
                    elif event.get("type") == "item_assigned":
                        spawn(_work(shared, client, event["item"]))
        finally:
            jobs = list(work)
            for task in jobs:
                task.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)


async def _quietly(job: Awaitable[None]) -> None:
    """A request the server could not answer (it is stopping) ends that one job, not the agent."""
    try:
        await job
    except httpx.HTTPError:
        return


async def _answer(
    shared: _Shared, client: httpx.AsyncClient, behaviour: scenario.AgentBehaviour, offer: str
) -> None:
    delay = behaviour.response_s
    if behaviour.response is not None:
        delay = behaviour.response.sample(shared.rng)
    await asyncio.sleep(delay / shared.speed)
    verb = "accept" if shared.rng.random() < behaviour.accept else "decline"
    body = None if verb == "accept" else {"reason": "busy"}
    await client.post(f"/v1/offers/{offer}/{verb}", json=body)


async def _work(shared: _Shared, client: httpx.AsyncClient, item_id: str) -> None:
    """Handle for the drawn time, complete, wrap up, close."""
    drawn = shared.sent.get(item_id)
    handle_s, wrap_up_s = (60.0, 0.0) if drawn is None else (drawn.handle_s, drawn.wrap_up_s)
    await asyncio.sleep(handle_s / shared.speed)
    if (await client.post(f"/v1/work-items/{item_id}/complete")).status_code != 200:
        return
    await asyncio.sleep(wrap_up_s / shared.speed)
    if (await client.post(f"/v1/work-items/{item_id}/close")).status_code == 200:
        shared.handled += 1
