/**
 * Which backend a command uses: the rules of `--backend`, "the one you are
 * inside", "the first installed", and finding a session by exact name
 * across backends.
 */
import type { ProcessRunner } from "./process.ts";
import { parseTmuxEnv, TmuxBackend } from "./tmux.ts";
import { ZellijBackend } from "./zellij.ts";
import { ScreenBackend } from "./screen.ts";
import {
  type Backend,
  BackendError,
  type BackendName,
  type Session,
} from "./types.ts";

/**
 * Every backend, in the order `create` prefers them outside any
 * multiplexer: tmux, zellij, screen. Add a backend with one line here.
 */
const BACKEND_FACTORIES: ReadonlyArray<(runner: ProcessRunner) => Backend> = [
  (runner) => new TmuxBackend(runner),
  (runner) => new ZellijBackend(runner),
  (runner) => new ScreenBackend(runner),
];

/** The variable each multiplexer sets inside its sessions, checked in this order. */
const INSIDE_VARIABLES: ReadonlyArray<[BackendName, string]> = [
  ["tmux", "TMUX"],
  ["zellij", "ZELLIJ"],
  ["screen", "STY"],
];

/** What `listAvailable` found: sessions in backend order, each backend's by name, and the backends that failed. */
export interface Listing {
  sessions: Session[];
  failures: { backend: BackendName; error: BackendError }[];
}

export class Backends {
  /** Every known backend, installed or not, in order of preference. */
  readonly all: readonly Backend[];

  constructor(
    private readonly runner: ProcessRunner,
    /** `--backend` / SESSIONS_BACKEND, when given. */
    private readonly requested?: BackendName,
  ) {
    this.all = BACKEND_FACTORIES.map((factory) => factory(runner));
  }

  /**
   * The multiplexer this process runs inside, from its environment. When
   * several say so (screen started in a tmux pane keeps TMUX), the one whose
   * server is the nearest ancestor of this process is the inner one, the
   * one `detach` must act on; where ancestors cannot be read, the order of
   * INSIDE_VARIABLES decides.
   */
  insideName(): BackendName | null {
    const inside = INSIDE_VARIABLES.filter(([, variable]) => {
      const value = this.runner.env(variable);
      return value !== undefined && value !== "";
    }).map(([name]) => name);
    if (inside.length <= 1) return inside[0] ?? null;
    const tmuxServer = parseTmuxEnv(this.runner.env("TMUX"))?.serverPid;
    const screenServer = Number(
      /^(\d+)\./.exec(this.runner.env("STY") ?? "")?.[1],
    );
    for (const ancestor of this.runner.ancestors?.() ?? []) {
      if (inside.includes("tmux") && ancestor.pid === tmuxServer) return "tmux";
      if (inside.includes("screen") && ancestor.pid === screenServer) {
        return "screen";
      }
      if (inside.includes("zellij") && ancestor.name === "zellij") {
        return "zellij";
      }
    }
    return inside[0];
  }

  /** The requested backend only, else every installed one. */
  forListing(): Backend[] {
    if (this.requested) return [this.installed(this.requested)];
    return this.all.filter((backend) => backend.isInstalled());
  }

  /** The requested backend, else the one you are inside, else the first installed. */
  forCreating(): Backend {
    if (this.requested) return this.installed(this.requested);
    const inside = this.insideName();
    const insideBackend = this.all.find((backend) =>
      backend.name === inside && backend.isInstalled()
    );
    if (insideBackend) return insideBackend;
    const first = this.all.find((backend) => backend.isInstalled());
    if (first) return first;
    throw new BackendError(
      "not-installed",
      "no terminal multiplexer is installed",
      `install one of ${this.all.map((b) => b.name).join(", ")}`,
    );
  }

  /** The backend you are inside (or the requested one, if you are inside it). */
  forCurrent(): Backend {
    const inside = this.insideName();
    if (inside === null || (this.requested && this.requested !== inside)) {
      throw new BackendError(
        "not-inside",
        this.requested
          ? `this is not inside a ${this.requested} session`
          : "this is not inside a tmux, screen or zellij session",
        "name the session: sessions detach NAME",
      );
    }
    return this.installed(inside);
  }

  /**
   * Sessions of every backend `forListing` covers, in backend order. Without
   * a requested backend, one that fails (say, screen refusing a SCREENDIR
   * that is not mode 700) does not hide the sessions of the others: its
   * error is returned beside them. A requested backend's failure, and
   * anything that is not a BackendError (a bug), is thrown.
   */
  async listAvailable(all: boolean): Promise<Listing> {
    const backends = this.forListing();
    const results = await Promise.allSettled(
      backends.map((backend) => backend.list({ all })),
    );
    const listing: Listing = { sessions: [], failures: [] };
    results.forEach((result, i) => {
      if (result.status === "fulfilled") {
        // By name, in code point order, whatever order the backend gave
        // (screen lists newest first): one predictable order for all.
        listing.sessions.push(
          ...result.value.toSorted((a, b) =>
            a.name < b.name ? -1 : a.name > b.name ? 1 : 0
          ),
        );
      } else if (result.reason instanceof BackendError && !this.requested) {
        listing.failures.push({
          backend: backends[i].name,
          error: result.reason,
        });
      } else {
        throw result.reason;
      }
    });
    // Inside two (screen in a tmux pane), each marks its own session; the
    // one you are in is the inner one's.
    const marked = listing.sessions.filter((session) => session.current);
    if (marked.length > 1) {
      const inner = this.insideName();
      for (const session of marked) {
        if (session.backend !== inner) session.current = false;
      }
    }
    return listing;
  }

  /**
   * The session with exactly NAME, and its backend. Refuses when no
   * backend or more than one holds it, and when a backend that cannot be
   * listed might hold it too: acting on the one found could then be acting
   * on the wrong session.
   */
  async find(name: string): Promise<{ session: Session; backend: Backend }> {
    const { sessions, failures } = await this.listAvailable(true);
    const matches = sessions.filter((session) => session.name === name);
    if (failures.length > 0) {
      const { backend: unlisted, error } = failures[0];
      if (matches.length === 0) throw error;
      const found = matches.map((session) => session.backend);
      throw new BackendError(
        error.kind,
        `cannot tell whether ${unlisted} also has a session named '${name}': ${error.message}`,
        `choose the ${found.join(" or ")} one with --backend ${
          found.join("|")
        }${error.hint ? `, or fix ${unlisted}: ${error.hint}` : ""}`,
      );
    }
    if (matches.length === 0) {
      throw new BackendError(
        "not-found",
        `no session named '${name}'${
          this.requested ? ` in ${this.requested}` : ""
        }`,
        "sessions list shows the sessions",
      );
    }
    if (
      matches.length > 1 && new Set(matches.map((m) => m.backend)).size === 1
    ) {
      // screen takes the same name twice; each has its own PID.NAME handle.
      const backend = matches[0].backend;
      throw new BackendError(
        "exists",
        `${backend} holds ${matches.length} sessions named '${name}': ${
          matches.map((session) => session.id).join(", ")
        }`,
        `end the extra ones with screen itself, e.g. screen -S ${
          matches[0].id
        } -X quit`,
      );
    }
    if (matches.length > 1) {
      const names = matches.map((session) => session.backend);
      throw new BackendError(
        "exists",
        `more than one backend holds a session named '${name}': ${
          names.join(", ")
        }`,
        `choose one with --backend ${names.join("|")}`,
      );
    }
    const session = matches[0];
    return { session, backend: this.byName(session.backend) };
  }

  private byName(name: BackendName): Backend {
    const backend = this.all.find((candidate) => candidate.name === name);
    if (!backend) {
      throw new BackendError(
        "not-installed",
        `this build of sessions does not support ${name} yet`,
        `use --backend ${this.all.map((b) => b.name).join("|")}`,
      );
    }
    return backend;
  }

  private installed(name: BackendName): Backend {
    const backend = this.byName(name);
    if (!backend.isInstalled()) throw backend.notInstalled();
    return backend;
  }
}
