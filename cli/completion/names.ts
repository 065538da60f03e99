/**
 * The live values completion scripts ask for (`sessions completions --names
 * KIND`): session names of every installed backend, and host names from the
 * SSH config and known_hosts files. Completion must never print an error,
 * so each source that fails is skipped.
 */
import { join } from "node:path";
import { Backends } from "../../backends/registry.ts";
import { systemRunner } from "../../backends/process.ts";
import { loadSshConfig, localIdentity } from "../../remote/ssh-config.ts";
import { parseKnownHosts } from "../../remote/known-hosts.ts";
import type { NamesKind } from "./scripts.ts";

export async function sessionNames(): Promise<string[]> {
  const lists = await Promise.all(
    new Backends(systemRunner).forListing().map((backend) =>
      backend.list({ all: false }).catch(() => [])
    ),
  );
  return unique(lists.flat().map((session) => session.name));
}

/** Where OpenSSH looks for known hosts when the config names no other file. */
function knownHostsFiles(home: string): string[] {
  return [
    join(home, ".ssh", "known_hosts"),
    join(home, ".ssh", "known_hosts2"),
    "/etc/ssh/ssh_known_hosts",
    "/etc/ssh/ssh_known_hosts2",
  ];
}

/** A literal host from a known_hosts name (`host`, `[host]:port`), or null for patterns. */
function knownHostName(name: string): string | null {
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(name);
  const host = bracketed ? bracketed[1] : name;
  return /[*?!]/.test(host) || host === "" ? null : host;
}

export function hostNames(): string[] {
  const names: string[] = [];
  try {
    names.push(...loadSshConfig().hostAliases());
  } catch {
    // An unreadable or invalid config offers no aliases.
  }
  for (const file of knownHostsFiles(localIdentity().home)) {
    let content: string;
    try {
      content = Deno.readTextFileSync(file);
    } catch {
      continue;
    }
    for (const entry of parseKnownHosts(content, file)) {
      if (entry.hashed || entry.marker) continue;
      for (const name of entry.names.split(",")) {
        const host = knownHostName(name);
        if (host) names.push(host);
      }
    }
  }
  return unique(names);
}

export function names(kind: NamesKind): Promise<string[]> | string[] {
  return kind === "sessions" ? sessionNames() : hostNames();
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
