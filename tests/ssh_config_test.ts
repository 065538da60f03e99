/**
 * Compares remote/ssh-config.ts with OpenSSH's own resolution (`ssh -G`,
 * which prints the resolved configuration and connects nowhere) on config
 * files written to a temp dir.
 */
import assert from "node:assert/strict";
import { MAX_DURATION_SECONDS } from "../remote/duration.ts";
import { join } from "node:path";
import { RemoteError } from "../remote/errors.ts";
import {
  type HostOverrides,
  loadSshConfig,
  type LocalIdentity,
  type SshConfig,
  withoutSameDestination,
} from "../remote/ssh-config.ts";
import { parseTargetList } from "../remote/targets.ts";
import type { HostSettings } from "../remote/types.ts";

/** ssh uses the password database, not $HOME: take the same identity. */
function passwdIdentity(): LocalIdentity {
  const uid = Deno.uid() ?? 0;
  const line = Deno.readTextFileSync("/etc/passwd").split("\n")
    .map((l) => l.split(":")).find((f) => Number(f[2]) === uid);
  assert.ok(line, "uid in /etc/passwd");
  return { user: line[0], home: line[5], uid, hostname: Deno.hostname() };
}

async function sshG(
  configFile: string,
  host: string,
  overrides: HostOverrides = {},
): Promise<Map<string, string[]>> {
  const args = ["-G", "-F", configFile];
  if (overrides.user) args.push("-l", overrides.user);
  if (overrides.port) args.push("-p", String(overrides.port));
  for (const key of overrides.identityFiles ?? []) args.push("-i", key);
  args.push(host);
  const output = await new Deno.Command("ssh", { args, stdin: "null" })
    .output();
  const text = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const values = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const space = line.indexOf(" ");
    if (space < 0) continue;
    const key = line.slice(0, space).toLowerCase();
    values.set(key, [...(values.get(key) ?? []), line.slice(space + 1)]);
  }
  return values;
}

const STRICT_AS_SSH_PRINTS = {
  yes: "true",
  no: "false",
  ask: "ask",
  "accept-new": "accept-new",
};

/** Our settings in `ssh -G` terms: lower-case keys, OpenSSH's spelling of values. */
function asSshG(
  settings: HostSettings,
  local: LocalIdentity,
): Map<string, string[]> {
  const yesNo = (flag: boolean) => [flag ? "yes" : "no"];
  const values = new Map<string, string[]>([
    ["hostname", [settings.hostname]],
    ["user", [settings.user]],
    ["port", [String(settings.port)]],
    ["identitiesonly", yesNo(settings.identitiesOnly)],
    ["connecttimeout", [
      settings.connectTimeout === null
        ? "none"
        : String(settings.connectTimeout),
    ]],
    ["serveraliveinterval", [String(settings.serverAliveInterval)]],
    ["serveralivecountmax", [String(settings.serverAliveCountMax)]],
    ["stricthostkeychecking", [
      STRICT_AS_SSH_PRINTS[settings.strictHostKeyChecking ?? "ask"],
    ]],
    ["userknownhostsfile", [settings.userKnownHostsFiles.join(" ") || "none"]],
    ["globalknownhostsfile", [
      settings.globalKnownHostsFiles.join(" ") || "none",
    ]],
    ["forwardagent", yesNo(settings.forwardAgent)],
  ]);
  if (settings.hostKeyAlias !== null) {
    values.set("hostkeyalias", [settings.hostKeyAlias]);
  }
  if (settings.proxyJump.length > 0) {
    values.set("proxyjump", [
      settings.proxyJump.map((hop) => hop.target.label).join(","),
    ]);
  }
  if (settings.identityFilesExplicit) {
    values.set(
      "identityfile",
      settings.identityFiles.map((p) => p.replace(local.home, "~")),
    );
  }
  return values;
}

const COMPARED_KEYS = [
  "hostname",
  "user",
  "port",
  "identitiesonly",
  "connecttimeout",
  "serveraliveinterval",
  "serveralivecountmax",
  "stricthostkeychecking",
  "userknownhostsfile",
  "globalknownhostsfile",
  "forwardagent",
  "hostkeyalias",
  "proxyjump",
];

async function assertSameAsSsh(
  config: SshConfig,
  configFile: string,
  local: LocalIdentity,
  targetText: string,
  overrides: HostOverrides = {},
): Promise<HostSettings> {
  const [target] = parseTargetList(targetText);
  const ours = config.resolve(target, overrides);
  const expected = await sshG(configFile, targetText.replace(/:\d+$/, ""), {
    ...overrides,
    port: target.port ?? overrides.port,
  });
  const actual = asSshG(ours, local);
  for (const key of COMPARED_KEYS) {
    assert.deepEqual(
      actual.get(key),
      expected.get(key),
      `${targetText}: ${key}`,
    );
  }
  if (ours.identityFilesExplicit) {
    // ssh -G prints IdentityFile before token expansion: expand ~ only, tokens are checked apart.
    const expectedFiles = expected.get("identityfile") ?? [];
    if (!expectedFiles.some((p) => p.includes("%"))) {
      assert.deepEqual(
        actual.get("identityfile"),
        expectedFiles,
        `${targetText}: identityfile`,
      );
    }
  }
  return ours;
}

Deno.test("ssh config resolution matches ssh -G", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "sessions-sshcfg-" });
  const local = passwdIdentity();
  try {
    await Deno.mkdir(join(dir, "inc"));
    await Deno.mkdir(join(dir, "inc-only"));
    const mainFile = join(dir, "main.conf");
    await Deno.writeTextFile(
      join(dir, "inc", "10-first.conf"),
      `# included first
Host included-host
  User from-include
  Include ${dir}/nested.conf
`,
    );
    await Deno.writeTextFile(
      join(dir, "inc", "20-second.conf"),
      "Host second-include\n  Port 2020\n",
    );
    await Deno.writeTextFile(
      join(dir, "nested.conf"),
      "Port 2121\nMatch host nowhere\n  Port 1\n",
    );
    await Deno.writeTextFile(
      join(dir, "inc-only", "a.conf"),
      "User from-block-include\nHost other\n  Port 4444\n",
    );
    await Deno.writeTextFile(
      mainFile,
      `# a config exercising every keyword sessions honours
Include ${dir}/inc/*.conf

Host service-port
  Port ssh

Host alias1
  HostName Real-%h.Example.com
  User alice
  Port 2201
  IdentityFile ~/.ssh/id_alias1
  IdentityFile "/keys/with space"
  IdentityFile /keys/%r@%h:%p
  IdentitiesOnly yes
  ConnectTimeout 1m30s
  ServerAliveInterval=15
  ServerAliveCountMax = 5
  StrictHostKeyChecking accept-new
  UserKnownHostsFile ~/kh/%h-%p-%r-%u "${dir}/dir with space/%n" %d/kh_%k %l-%L-%i-%%-%C
  GlobalKnownHostsFile /etc/g1 /etc/g2
  HostKeyAlias MyAlias
  ForwardAgent yes
  Port 9999

Host *.internal !bastion.internal
  ProxyJump bastion.internal
  User ops
  StrictHostKeyChecking no

Host bastion.internal
  Port 2222
  StrictHostKeyChecking off

Host multi-jump
  ProxyJump u1@j1:2022,j2,ssh://u3@j3:23

Host jumped-then-cmd
  ProxyJump j1
  ProxyCommand nc %h %p

Host zero-timeout
  ConnectTimeout 0

Host nojump
  ProxyJump none
Host nojump jumpy
  ProxyJump j1
  UserKnownHostsFile none
  GlobalKnownHostsFile none

Host q? "sp ace"
  User quoted
  StrictHostKeyChecking yes

Host inc-host
  Include ${dir}/inc-only/*.conf

Match originalhost m1 user bob
  Port 3001
Match host real-m2.example.com
  Port 3002
Match host m2,!nope* localuser ${local.user}
  ServerAliveInterval 7
Match exec "false"
  Port 3003
Match final host final-*.example.com
  User finaluser
Match !final originalhost final
  IdentitiesOnly yes

Host m2
  HostName real-m2.example.com
Host final
  HostName FINAL-%h.example.com
Host pct
  HostName %h.%%.example

Match all
  IdentityFile ~/.ssh/id_common
  ForwardAgent no
  ConnectTimeout none
`,
    );
    const config = loadSshConfig({ configFile: mainFile, local });
    const check = (host: string, overrides?: HostOverrides) =>
      assertSameAsSsh(config, mainFile, local, host, overrides);

    await t.step("warnings: Match exec is named, never run", () => {
      const execLine = Deno.readTextFileSync(mainFile).split("\n")
        .findIndex((line) => line.startsWith("Match exec")) + 1;
      assert.deepEqual(config.warnings, [
        `${mainFile}:${execLine}: 'Match exec' is not supported (sessions runs no programs from SSH config); the block is skipped`,
      ]);
      assert.ok(config.files.includes(join(dir, "nested.conf")));
    });

    await t.step(
      "every keyword, first value wins, tokens, quotes, key=value",
      async () => {
        const settings = await check("alias1");
        assert.equal(
          settings.identityFiles[2],
          `/keys/alice@real-alias1.example.com:2201`,
        );
        assert.ok(settings.identityFilesExplicit);
      },
    );

    await t.step(
      "Host patterns are case-sensitive, HostName is lower-cased",
      async () => {
        await check("ALIAS1");
        await check("WEB.Example.COM");
        await check("10.0.0.1");
        await check("pct");
        // A service name, as getservbyname() reads /etc/services.
        assert.equal((await check("service-port")).port, 22);
      },
    );

    await t.step("negation, ProxyJump hops and none", async () => {
      const db = await check("db.internal");
      assert.equal(db.proxyJump.length, 1);
      assert.equal(db.proxyJump[0].port, 2222);
      assert.equal(db.proxyJump[0].strictHostKeyChecking, "no");
      await check("bastion.internal");
      const multi = await check("multi-jump");
      assert.deepEqual(
        multi.proxyJump.map((hop) => [hop.user, hop.hostname, hop.port]),
        [["u1", "j1", 2022], [local.user, "j2", 22], ["u3", "j3", 23]],
      );
      const nojump = await check("nojump");
      assert.deepEqual(nojump.proxyJump, []);
      await check("jumpy");
      // A ProxyCommand after a ProxyJump is ignored, as by OpenSSH.
      const jumped = await check("jumped-then-cmd");
      assert.equal(jumped.proxyJump.length, 1);
      assert.equal(jumped.proxyCommand, null);
    });

    await t.step(
      "ConnectTimeout 0 stays 0 (no limit, as OpenSSH)",
      async () => {
        assert.equal((await check("zero-timeout")).connectTimeout, 0);
      },
    );

    await t.step("ssh -G agrees on each hop resolved alone", async () => {
      await check("bastion.internal");
      await check("u1@j1:2022");
      await check("j2");
    });

    await t.step(
      "Match originalhost/user/host/localuser/final/all",
      async () => {
        await check("m1");
        await check("bob@m1");
        await check("m2");
        await check("final");
        await check("q1");
      },
    );

    await t.step(
      "Include: globs, nested, inside Host blocks, parse-only in inactive blocks",
      async () => {
        await check("included-host");
        await check("second-include");
        await check("inc-host");
        await check("other");
      },
    );

    await t.step(
      "overrides win over the config; --key comes first",
      async () => {
        const settings = await check("alias1", {
          user: "override",
          port: 2999,
          identityFiles: ["/keys/cli"],
        });
        assert.equal(settings.user, "override");
        assert.equal(settings.identityFiles[0], "/keys/cli");
        await check("u@alias1:2345");
        await check("m1", { user: "bob" });
      },
    );

    await t.step(
      "IdentityFile tokens expand like UserKnownHostsFile (which ssh -G expands)",
      async () => {
        const tokens = "%h-%p-%r-%u-%n-%d-%k-%l-%L-%i-%%-%C";
        const file = join(dir, "tokens.conf");
        await Deno.writeTextFile(
          file,
          `Host tok\n  HostName tok.example\n  IdentityFile /k/${tokens}\n  UserKnownHostsFile /k/${tokens}\n`,
        );
        const tokenConfig = loadSshConfig({ configFile: file, local });
        const settings = await assertSameAsSsh(tokenConfig, file, local, "tok");
        assert.equal(
          settings.identityFiles[0],
          settings.userKnownHostsFiles[0],
        );
      },
    );

    await t.step(
      "Include globs negate a class with [!...], as glob(3)",
      async () => {
        await Deno.mkdir(join(dir, "neg"), { recursive: true });
        await Deno.writeTextFile(
          join(dir, "neg", "a.conf"),
          "Host neg\n  User from-a\n",
        );
        await Deno.writeTextFile(
          join(dir, "neg", "b.conf"),
          "Host neg\n  User from-b\n",
        );
        const file = join(dir, "neg.conf");
        await Deno.writeTextFile(file, `Include ${dir}/neg/[!a].conf\n`);
        const settings = await assertSameAsSsh(
          loadSshConfig({ configFile: file, local }),
          file,
          local,
          "neg",
        );
        assert.equal(settings.user, "from-b");
      },
    );

    await t.step(
      "a time longer than a timer holds means 'never' (OpenSSH takes any length)",
      async () => {
        const file = join(dir, "long.conf");
        await Deno.writeTextFile(
          file,
          "Host long\n  ConnectTimeout 30d\n  ServerAliveInterval 5w\n",
        );
        const settings = loadSshConfig({ configFile: file, local }).resolve(
          parseTargetList("long")[0],
        );
        assert.equal(settings.connectTimeout, MAX_DURATION_SECONDS);
        assert.equal(settings.serverAliveInterval, MAX_DURATION_SECONDS);
      },
    );

    await t.step("defaults when nothing is configured", async () => {
      const file = join(dir, "empty.conf");
      await Deno.writeTextFile(file, "# nothing\n");
      const settings = await assertSameAsSsh(
        loadSshConfig({ configFile: file, local }),
        file,
        local,
        "plain",
      );
      assert.deepEqual(settings.identityFiles, [
        `${local.home}/.ssh/id_ed25519`,
        `${local.home}/.ssh/id_ecdsa`,
        `${local.home}/.ssh/id_rsa`,
      ]);
      assert.equal(settings.identityFilesExplicit, false);
      assert.equal(settings.strictHostKeyChecking, null);
      assert.equal(settings.connectTimeout, null);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ssh config: files chosen, relative Include, defaults from the sessions config", async (t) => {
  const home = await Deno.makeTempDir({ prefix: "sessions-sshhome-" });
  const local: LocalIdentity = {
    user: "me",
    home,
    uid: 1000,
    hostname: "client.example.org",
  };
  try {
    await Deno.mkdir(join(home, ".ssh", "conf.d"), { recursive: true });
    await Deno.writeTextFile(
      join(home, ".ssh", "config"),
      "Include conf.d/*\nHost a\n  Port 1000\n",
    );
    await Deno.writeTextFile(
      join(home, ".ssh", "conf.d", "x"),
      "Host a\n  User from-relative\n",
    );
    const system = join(home, "system_config");
    await Deno.writeTextFile(
      system,
      "Host a\n  User system\n  Port 2000\n  ConnectTimeout 5\n",
    );
    const [target] = parseTargetList("a");

    await t.step(
      "without -F: ~/.ssh/config (relative Include from ~/.ssh), then the system file",
      () => {
        const settings = loadSshConfig({ local, systemConfigFile: system })
          .resolve(target);
        assert.equal(settings.user, "from-relative");
        assert.equal(settings.port, 1000);
        assert.equal(settings.connectTimeout, 5);
        assert.equal(
          settings.userKnownHostsFiles[0],
          `${home}/.ssh/known_hosts`,
        );
      },
    );

    await t.step(
      "with -F the system file is not read; -F none reads nothing",
      () => {
        const file = join(home, "other");
        Deno.writeTextFileSync(file, "Host a\n  Port 3000\n");
        const settings = loadSshConfig({
          local,
          systemConfigFile: system,
          configFile: file,
        })
          .resolve(target, {}, { user: "default-user", connectTimeout: 10 });
        assert.equal(settings.port, 3000);
        assert.equal(settings.user, "default-user");
        assert.equal(settings.connectTimeout, 10);
        const none = loadSshConfig({
          local,
          systemConfigFile: system,
          configFile: "none",
        }).resolve(target);
        assert.equal(none.user, "me");
        assert.deepEqual(none.proxyJump, []);
      },
    );

    await t.step("errors name file:line", () => {
      const bad = (content: string, fragment: string) => {
        const file = join(home, "bad");
        Deno.writeTextFileSync(file, content);
        assert.throws(
          () => loadSshConfig({ local, configFile: file }),
          (error: unknown) => {
            assert.ok(error instanceof RemoteError);
            assert.equal(error.kind, "usage");
            assert.ok(error.message.includes(fragment), error.message);
            return true;
          },
        );
      };
      bad("Host a\n  Port abc\n", `${home}/bad:2: bad port 'abc'`);
      bad(
        "Host a\n  ConnectTimeout soon\n",
        "bad:2: connecttimeout: bad time 'soon'",
      );
      bad("Match all host x\n", "bad:1: Match 'all' cannot be combined");
      bad("Match host\n", "Match host needs an argument");
      bad("Match tagged x\n", "unsupported Match criterion 'tagged'");
      bad('Host a\n  User "unclosed\n', "bad:2: unclosed quote");
      bad(
        "Host a\n  StrictHostKeyChecking maybe\n",
        "StrictHostKeyChecking must be",
      );
      bad("Host a\n  ProxyJump a,b:x\n", "bad ProxyJump hop 'b:x'");
      // ssh refuses these too ("extra arguments at end of line").
      bad(
        "Host a\n  User a b\n",
        "bad:2: user: extra arguments at end of line",
      );
      bad(
        'Host a\n  IdentityFile "/a b/c" /d\n',
        "identityfile: extra arguments at end of line",
      );
      bad(
        "Host a\n  ForwardAgent /run/restricted.sock\n",
        "bad:2: ForwardAgent '/run/restricted.sock': forwarding an agent socket other than SSH_AUTH_SOCK is not supported",
      );
      bad(
        "Host a\n  RevokedHostKeys ~/.ssh/revoked\n",
        "RevokedHostKeys is not supported by sessions",
      );
      bad(
        "Host a\n  KnownHostsCommand /bin/true\n",
        "KnownHostsCommand is not supported by sessions",
      );
      bad("Port\n", "no argument after 'port'");
      assert.throws(
        () => loadSshConfig({ local, configFile: join(home, "missing") }),
        /cannot open SSH config file/,
      );
    });

    await t.step(
      "a bad token or unset ${VAR} fails the host that uses it, naming file:line",
      () => {
        const file = join(home, "tokens");
        Deno.writeTextFileSync(
          file,
          "Host a\n  IdentityFile ~/.ssh/%Z\n" +
            "Host b\n  HostName %q.example\n" +
            "Host c\n  UserKnownHostsFile ${SESSIONS_TEST_UNSET}/kh\n" +
            "Host d\n  Port 22\n",
        );
        const config = loadSshConfig({ local, configFile: file });
        const fails = (host: string, message: string) =>
          assert.throws(
            () => config.resolve(parseTargetList(host)[0]),
            (error: unknown) => {
              assert.ok(error instanceof RemoteError);
              assert.equal(error.kind, "usage");
              assert.equal(error.message, message);
              return true;
            },
          );
        fails("a", `${file}:2: IdentityFile '~/.ssh/%Z': unknown token '%Z'`);
        fails("b", `${file}:4: HostName '%q.example': unknown token '%q'`);
        fails(
          "c",
          `${file}:6: UserKnownHostsFile '\${SESSIONS_TEST_UNSET}/kh': environment variable \${SESSIONS_TEST_UNSET} is not set`,
        );
        // As OpenSSH: checked when used, so the other hosts are unaffected.
        assert.equal(config.resolve(parseTargetList("d")[0]).port, 22);
      },
    );

    await t.step("ProxyJump loops are refused", () => {
      const file = join(home, "loop");
      Deno.writeTextFileSync(
        file,
        "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n",
      );
      assert.throws(
        () => loadSshConfig({ local, configFile: file }).resolve(target),
        /ProxyJump loop: me@a:22 -> me@b:22 -> me@a:22/,
      );
    });

    await t.step("an unsupported ProxyCommand is reported, not dropped", () => {
      const file = join(home, "proxycommand");
      Deno.writeTextFileSync(
        file,
        "Host a\n  ProxyCommand nc %h %p\n  ProxyJump b\n",
      );
      const settings = loadSshConfig({ local, configFile: file }).resolve(
        target,
      );
      assert.equal(settings.proxyCommand, "nc %h %p");
      assert.deepEqual(settings.proxyJump, []);
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("targets that resolve to the same login run once; behind other jump hosts they are other hosts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sessions-samedest-" });
  try {
    const file = join(dir, "config");
    await Deno.writeTextFile(
      file,
      "Host web1 WEB1-alias\n  HostName web1.example\n" +
        "Host dc1-db\n  HostName 10.0.0.5\n  ProxyJump bastion1\n" +
        "Host dc2-db\n  HostName 10.0.0.5\n  ProxyJump bastion2\n" +
        "Host web1-tunnel\n  HostName web1.example\n  ProxyCommand nc -X 5 -x proxy:1080 %h %p\n" +
        "Host *\n  User root\n",
    );
    const local: LocalIdentity = {
      user: "me",
      home: dir,
      uid: 1000,
      hostname: "client",
    };
    const config = loadSshConfig({ local, configFile: file });
    const resolved = parseTargetList(
      "web1,root@web1:22,WEB1-alias,ops@web1,dc1-db,dc2-db,web1-tunnel",
    ).map((target) => config.resolve(target));
    const { hosts, dropped } = withoutSameDestination(resolved);
    assert.deepEqual(hosts.map((host) => host.target.label), [
      "web1",
      "ops@web1",
      "dc1-db",
      "dc2-db",
      "web1-tunnel",
    ]);
    assert.deepEqual(dropped, [
      {
        label: "root@web1:22",
        sameAs: "web1",
        destination: "root@web1.example:22",
      },
      {
        label: "WEB1-alias",
        sameAs: "web1",
        destination: "root@web1.example:22",
      },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
