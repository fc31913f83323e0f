// @ts-check
/**
 * The console's live state: every agent and queue, kept current from the event stream without
 * reloading everything per event (issue 8: 2,000 agents, 100 queues, tens of events a second).
 *
 * An event is folded in two ways:
 * - what it says outright is applied at once (a presence change carries the new presence, its
 *   label and its time, so the presence wall shows it in the same frame);
 * - what it implies but does not carry (capacity used, items, queue counts) marks the agent or
 *   queue it names as stale. Stale rows are re-read together, at most every `refreshMs`, with
 *   `GET /v1/agents?id=…` (in batches) and `GET /v1/queues`: a handful of requests a second
 *   however busy the stream.
 *
 * Every change is reported to the listeners as the sets of agent ids and queue names that
 * changed, so a view redraws those rows only. Pure logic: the reads are injected, no DOM here.
 */

/** The most ids per `GET /v1/agents?id=…` (the server's bound). */
export const BATCH = 50;

/** Events after which agents or queues may have been added or removed: reload all. */
const RELOAD = new Set(["config_applied"]);

/**
 * @typedef {Record<string, any>} Agent  an agent view of the API (id, presence, …)
 * @typedef {Record<string, any>} Queue  a queue view of the API (name, waiting, …)
 * @typedef {{agents: Set<string>, queues: Set<string>, reloaded: boolean}} Change
 * @typedef {object} Reads
 * @property {(ids: string[] | null) => Promise<Agent[]>} agents  null: every agent
 * @property {() => Promise<Queue[]>} queues
 */

export class LiveStore {
  /**
   * @param {Reads} reads
   * @param {{refreshMs?: number, schedule?: (fn: () => void, ms: number) => any}} [options]
   */
  constructor(reads, options = {}) {
    this.reads = reads;
    this.refreshMs = options.refreshMs ?? 200;
    this.schedule = options.schedule ?? ((fn, ms) => setTimeout(fn, ms));
    /** @type {Map<string, Agent>} */
    this.agents = new Map();
    /** @type {Map<string, Queue>} */
    this.queues = new Map();
    /** @type {Set<string>} agents to re-read */
    this.staleAgents = new Set();
    this.staleQueues = false;
    this.reloadWanted = false;
    /** When each queue view was read (client ms), to age its longest wait between reads. */
    /** @type {Map<string, number>} */
    this.queueReadAt = new Map();
    /** @type {Array<(change: Change) => void>} */
    this.listeners = [];
    this.pending = false;
    this.running = false;
    /** The newest event time folded in (server seconds). */
    this.lastEventT = 0;
  }

  /** @param {(change: Change) => void} listener */
  subscribe(listener) {
    this.listeners.push(listener);
  }

  /** Read every agent and queue (the first load, and after a configuration change). */
  async reload() {
    const [agents, queues] = await Promise.all([this.reads.agents(null), this.reads.queues()]);
    this.agents = new Map(agents.map((a) => [a.id, a]));
    this.setQueues(queues);
    this.staleAgents.clear();
    this.staleQueues = false;
    this.emit({ agents: new Set(this.agents.keys()), queues: new Set(this.queues.keys()), reloaded: true });
  }

  /**
   * Fold one event of the stream (SPEC §6.1.1).
   * @param {Record<string, any>} event
   */
  apply(event) {
    if (typeof event.t === "number") this.lastEventT = Math.max(this.lastEventT, event.t);
    if (RELOAD.has(event.type)) {
      this.reloadWanted = true;
      return this.later();
    }
    /** @type {Set<string>} */
    const agents = new Set();
    const agent = event.agent && this.agents.get(event.agent);
    if (agent) {
      if (event.type === "presence_changed") {
        agents.add(this.presence(agent, event));
        this.staleQueues = true; // staffed and ready counts follow presence
      } else if (event.type === "agent_connected" || event.type === "agent_disconnected") {
        agent.connected = event.type === "agent_connected";
        agents.add(agent.id);
      }
      this.staleAgents.add(agent.id);
    } else if (event.agent) {
      this.reloadWanted = true; // an agent this console does not know yet
    }
    if (event.queue || event.item) this.staleQueues = true;
    if (agents.size) this.emit({ agents, queues: new Set(), reloaded: false });
    this.later();
  }

  /**
   * @param {Agent} agent
   * @param {Record<string, any>} event a presence_changed event
   * @returns {string} the agent's id
   */
  presence(agent, event) {
    if (agent.presence !== event.presence || agent.label !== (event.label ?? null)) {
      agent.presence_since = event.t;
    }
    agent.presence = event.presence;
    agent.label = event.label ?? null;
    agent.manual = Boolean(event.manual);
    return agent.id;
  }

  /** Re-read what went stale, once the current refresh (if any) is done. */
  later() {
    if (this.pending) return;
    this.pending = true;
    this.schedule(() => {
      this.pending = false;
      void this.refresh();
    }, this.refreshMs);
  }

  /** Re-read the stale agents (in batches) and the queues; report what changed. */
  async refresh() {
    if (this.running) return this.later();
    this.running = true;
    try {
      if (this.reloadWanted) {
        this.reloadWanted = false;
        return await this.reload();
      }
      const ids = [...this.staleAgents];
      this.staleAgents.clear();
      const queues = this.staleQueues;
      this.staleQueues = false;
      const batches = [];
      for (let i = 0; i < ids.length; i += BATCH) batches.push(this.reads.agents(ids.slice(i, i + BATCH)));
      const [read, queueRows] = await Promise.all([
        Promise.all(batches),
        queues ? this.reads.queues() : Promise.resolve(null),
      ]);
      this.emit({ agents: this.mergeAgents(ids, read.flat()), queues: queueRows ? this.setQueues(queueRows) : new Set(), reloaded: false });
    } finally {
      this.running = false;
    }
  }

  /**
   * @param {string[]} asked
   * @param {Agent[]} read
   * @returns {Set<string>} the ids whose view changed (an asked id not read back was removed)
   */
  mergeAgents(asked, read) {
    const changed = new Set();
    const seen = new Set();
    for (const fresh of read) {
      seen.add(fresh.id);
      const old = this.agents.get(fresh.id);
      if (!old || !sameAgent(old, fresh)) {
        this.agents.set(fresh.id, fresh);
        changed.add(fresh.id);
      }
    }
    for (const id of asked) {
      if (!seen.has(id) && this.agents.delete(id)) changed.add(id);
    }
    return changed;
  }

  /**
   * @param {Queue[]} rows
   * @returns {Set<string>} the names whose view changed
   */
  setQueues(rows) {
    const now = Date.now();
    const changed = new Set();
    const names = new Set();
    for (const row of rows) {
      names.add(row.name);
      this.queueReadAt.set(row.name, now);
      const old = this.queues.get(row.name);
      if (!old || JSON.stringify(old) !== JSON.stringify(row)) changed.add(row.name);
      this.queues.set(row.name, row);
    }
    for (const name of [...this.queues.keys()]) {
      if (!names.has(name)) {
        this.queues.delete(name);
        changed.add(name);
      }
    }
    return changed;
  }

  /**
   * A queue's longest wait now: the value read, aged by the time since it was read while items
   * wait (the server computes it at read time; between reads the clock keeps running).
   * @param {string} name
   * @param {number} [nowMs]
   */
  longestWait(name, nowMs = Date.now()) {
    const queue = this.queues.get(name);
    if (!queue) return 0;
    const base = Number(queue.longest_wait_s) || 0;
    if (!(queue.waiting > 0 || queue.offered > 0)) return base;
    return base + (nowMs - (this.queueReadAt.get(name) ?? nowMs)) / 1000;
  }

  /** @param {Change} change */
  emit(change) {
    if (!change.agents.size && !change.queues.size && !change.reloaded) return;
    for (const listener of this.listeners) listener(change);
  }
}

/**
 * Two views of one agent that show the same (a cheap structural compare of the fields the
 * console draws, so an unchanged re-read redraws nothing).
 * @param {Agent} a
 * @param {Agent} b
 */
export function sameAgent(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Counts of agents per base presence (the wall's summary).
 * @param {Iterable<Agent>} agents
 * @returns {Map<string, number>}
 */
export function presenceCounts(agents) {
  const counts = new Map();
  for (const agent of agents) counts.set(agent.presence, (counts.get(agent.presence) || 0) + 1);
  return counts;
}
