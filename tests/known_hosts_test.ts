/**
 * remote/known-hosts.ts against real files and OpenSSH's own tools:
 * keys from `ssh-keygen -t`, hashing by `ssh-keygen -H`, lookups compared
 * with `ssh-keygen -F`, fingerprints with `ssh-keygen -lf`.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import {
  fingerprintSha256,
  hostKeyBlobProblem,
  KnownHostsFiles,
  parseKnownHosts,
} from "../remote/known-hosts.ts";

async function run(command: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(command, { args, stdin: "null" })
    .output();
  assert.equal(
    output.code,
    0,
    `${command} ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`,
  );
  return new TextDecoder().decode(output.stdout);
}

/** `ssh-keygen -F name -f file` as [line, marker] pairs ("" / "REVOKED" / "CA"). */
async function keygenFind(name: string, file: string): Promise<string[]> {
  const output = await new Deno.Command("ssh-keygen", {
    args: ["-F", name, "-f", file],
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  return [...text.matchAll(/^# Host .* found: line (\d+) ?(\S*)/gm)].map((m) =>
    `${m[1]} ${m[2]}`.trim()
  );
}

/** Longer than one SHA-1 block once hashed with the HMAC padding. */
const LONG_NAME =
  "[a-very-long-host-name-that-needs-two-sha1-blocks.example.com]:2222";

interface HostKey {
  type: string;
  base64: string;
  blob: Uint8Array;
  publicFile: string;
}

async function makeKey(
  dir: string,
  name: string,
  type: string,
): Promise<HostKey> {
  const path = join(dir, name);
  await run("ssh-keygen", ["-q", "-t", type, "-f", path, "-N", "", "-C", ""]);
  const [keyType, base64] = (await Deno.readTextFile(`${path}.pub`)).trim()
    .split(" ");
  return {
    type: keyType,
    base64,
    blob: Buffer.from(base64, "base64"),
    publicFile: `${path}.pub`,
  };
}

Deno.test("known_hosts", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "sessions-kh-" });
  try {
    const a = await makeKey(dir, "a", "ed25519");
    const b = await makeKey(dir, "b", "ed25519");
    const c = await makeKey(dir, "c", "ed25519");
    const e = await makeKey(dir, "e", "ecdsa");
    const r = await makeKey(dir, "r", "rsa");
    const line = (k: HostKey) => `${k.type} ${k.base64}`;
    const plainFile = join(dir, "known_hosts");
    await Deno.writeTextFile(
      plainFile,
      [
        "# a comment",
        `host1 ${line(a)}`,
        `Host2,10.0.0.2 ${line(b)} a comment`,
        "",
        `[host3]:2222 ${line(c)}`,
        `*.wild,!bad.wild ${line(a)}`,
        `@revoked * ${line(c)}`,
        `@cert-authority *.ca ${line(b)}`,
        `host1 ${line(e)}`,
        `   host4   ${line(r)}   `,
        `${LONG_NAME} ${line(a)}`,
        "",
      ].join("\n"),
    );
    const hashedFile = join(dir, "known_hosts_hashed");
    await Deno.copyFile(plainFile, hashedFile);
    await run("ssh-keygen", ["-q", "-H", "-f", hashedFile]);
    // Lines OpenSSH skips (ssh-keygen -H refuses to hash such a file).
    const junkFile = join(dir, "known_hosts_junk");
    await Deno.writeTextFile(
      junkFile,
      Deno.readTextFileSync(plainFile) +
        [
          "@unknown-marker host5 " + line(a),
          "host6 ssh-ed25519 not-base64!",
          "host7 1024 35 1234567890",
          `|1|bad|hash ${line(a)}`,
          `host8 ${line(b)}`,
        ].join("\n"),
    );
    const names = [
      "host1",
      "host2",
      "HOST2",
      "10.0.0.2",
      "[host3]:2222",
      "host3",
      "x.wild",
      "bad.wild",
      "y.ca",
      "host4",
      "host5",
      "host6",
      "host7",
      "host8",
      LONG_NAME,
      "nothing",
    ];

    await t.step(
      "the entries naming a host are those ssh-keygen -F finds, plain and hashed",
      async () => {
        const files = new KnownHostsFiles();
        for (const file of [plainFile, hashedFile]) {
          const store = files.store([file], []);
          for (const name of names) {
            const ours = store.entriesFor(name).map((entry) =>
              `${entry.line} ${
                entry.marker === "revoked"
                  ? "REVOKED"
                  : entry.marker === "cert-authority"
                  ? "CA"
                  : ""
              }`
                .trim()
            );
            assert.deepEqual(
              ours,
              await keygenFind(name.toLowerCase(), file),
              `${file} ${name}`,
            );
          }
        }
      },
    );

    await t.step(
      "lookups: match, mismatch with file:line, unknown, revoked, cert-authority",
      () => {
        for (const file of [plainFile, hashedFile]) {
          const store = new KnownHostsFiles().store([
            join(dir, "missing"),
            file,
          ], []);
          const hashed = file === hashedFile;
          assert.deepEqual(store.check("host1", a.type, a.blob), {
            status: "match",
          });
          assert.deepEqual(store.check("HOST1", e.type, e.blob), {
            status: "match",
          });
          assert.deepEqual(store.check("host1", b.type, b.blob), {
            status: "mismatch",
            file,
            line: 2,
          });
          assert.deepEqual(store.check("10.0.0.2", b.type, b.blob), {
            status: "match",
          });
          assert.deepEqual(store.check("[host3]:2222", c.type, c.blob), {
            status: "revoked",
            file,
            line: hashed ? 8 : 7,
          });
          assert.deepEqual(store.check("host3", a.type, a.blob), {
            status: "unknown",
          });
          assert.deepEqual(store.check("host4", a.type, a.blob), {
            status: "unknown",
          });
          assert.deepEqual(store.check("host4", r.type, r.blob), {
            status: "match",
          });
          assert.deepEqual(store.check("x.wild", a.type, a.blob), {
            status: "match",
          });
          assert.deepEqual(store.check("bad.wild", a.type, a.blob), {
            status: "unknown",
          });
          assert.deepEqual(store.check("y.ca", a.type, a.blob), {
            status: "cert-authority-unsupported",
            file,
            line: hashed ? 9 : 8,
          });
          assert.deepEqual(store.knownKeyTypes("host1"), [
            "ssh-ed25519",
            "ecdsa-sha2-nistp256",
          ]);
          assert.deepEqual(store.knownKeyTypes("nothing"), []);
        }
      },
    );

    await t.step(
      "a hashed @revoked line overturns a plain match of the same key",
      () => {
        const hashedHost1 = Deno.readTextFileSync(hashedFile).split("\n")
          .find((text) => text.startsWith("|1|") && text.endsWith(line(a)))!;
        const file = join(dir, "known_hosts_revoked_hashed");
        Deno.writeTextFileSync(
          file,
          `host1 ${line(a)}\nhost1 ${line(e)}\n@revoked ${hashedHost1}\n`,
        );
        const store = new KnownHostsFiles().store([file], []);
        assert.deepEqual(store.check("host1", a.type, a.blob), {
          status: "revoked",
          file,
          line: 3,
        });
        assert.deepEqual(store.check("host1", e.type, e.blob), {
          status: "match",
        });
      },
    );

    await t.step(
      "several files: user files first, then global; a match anywhere wins",
      () => {
        const other = join(dir, "other_known_hosts");
        Deno.writeTextFileSync(other, `host1 ${line(b)}\n`);
        const store = new KnownHostsFiles().store([other], [plainFile]);
        assert.deepEqual(store.check("host1", a.type, a.blob), {
          status: "match",
        });
        assert.deepEqual(store.check("host1", c.type, c.blob), {
          status: "revoked",
          file: plainFile,
          line: 7,
        });
        const changed = new KnownHostsFiles().store([other], [plainFile]).check(
          "host1",
          r.type,
          r.blob,
        );
        assert.deepEqual(changed, { status: "unknown" });
        assert.deepEqual(
          new KnownHostsFiles().store([other], []).check(
            "host1",
            a.type,
            a.blob,
          ),
          { status: "mismatch", file: other, line: 1 },
        );
      },
    );

    await t.step("fingerprints as ssh-keygen -lf prints them", async () => {
      for (const key of [a, e, r]) {
        const printed =
          (await run("ssh-keygen", ["-lf", key.publicFile])).split(" ")[1];
        assert.equal(fingerprintSha256(key.blob), printed);
      }
    });

    await t.step(
      "add appends a plain line ssh-keygen finds, without clobbering concurrent writers",
      async () => {
        const target = join(dir, "new", "sub", "known_hosts");
        const files = new KnownHostsFiles();
        const store = files.store([target], []);
        assert.deepEqual(store.check("[fresh]:2200", a.type, a.blob), {
          status: "unknown",
        });
        await Promise.all([
          store.add("[fresh]:2200", a.type, a.blob),
          files.store([target], []).add("other", b.type, b.blob),
          files.store([target], []).add("third", c.type, c.blob),
        ]);
        assert.deepEqual(store.check("[fresh]:2200", a.type, a.blob), {
          status: "match",
        });
        const lines = Deno.readTextFileSync(target).trimEnd().split("\n")
          .sort();
        assert.deepEqual(lines, [
          `[fresh]:2200 ${line(a)}`,
          `other ${line(b)}`,
          `third ${line(c)}`,
        ]);
        assert.equal((await keygenFind("[fresh]:2200", target)).length, 1);
        assert.equal(
          Deno.statSync(join(dir, "new", "sub")).mode! & 0o777,
          0o700,
        );

        // The same name and key accepted for two aliases at once, and again later: one line.
        await Promise.all([
          store.add("twin", a.type, a.blob),
          store.add("twin", a.type, a.blob),
        ]);
        await store.add("twin", a.type, a.blob);
        assert.equal((await keygenFind("twin", target)).length, 1);

        const noNewline = join(dir, "no_newline");
        Deno.writeTextFileSync(noNewline, `host1 ${line(a)}`);
        await new KnownHostsFiles().store([noNewline], []).add(
          "host9",
          b.type,
          b.blob,
        );
        assert.deepEqual(
          parseKnownHosts(Deno.readTextFileSync(noNewline), noNewline).map((
            entry,
          ) => entry.names),
          ["host1", "host9"],
        );
      },
    );

    await t.step("add without a UserKnownHostsFile is refused", async () => {
      await assert.rejects(
        () =>
          new KnownHostsFiles().store([], [plainFile]).add("x", a.type, a.blob),
        /UserKnownHostsFile is none/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hostKeyBlobProblem accepts real keys as ssh-keygen writes them and refuses every other encoding", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "sessions-blob-" });
  try {
    const blobs: Record<string, Uint8Array> = {};
    for (
      const [type, bits] of [
        ["ed25519", ""],
        ["ecdsa", "256"],
        ["ecdsa", "384"],
        ["ecdsa", "521"],
        ["rsa", "2048"],
      ]
    ) {
      const file = `${dir}/${type}${bits}`;
      const made = await new Deno.Command("ssh-keygen", {
        args: [
          "-q",
          "-t",
          type,
          ...(bits ? ["-b", bits] : []),
          "-N",
          "",
          "-f",
          file,
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
      const [name, base64] = (await Deno.readTextFile(`${file}.pub`)).split(
        " ",
      );
      blobs[name] = new Uint8Array(Buffer.from(base64, "base64"));
    }
    const concat = (...parts: Uint8Array[]) =>
      new Uint8Array(Buffer.concat(parts));
    const sshString = (bytes: Uint8Array) => {
      const out = new Uint8Array(4 + bytes.length);
      new DataView(out.buffer).setUint32(0, bytes.length);
      out.set(bytes, 4);
      return out;
    };
    const text = (value: string) => new TextEncoder().encode(value);

    await t.step("real keys of every type pass", () => {
      assert.deepEqual(Object.keys(blobs).sort(), [
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "ssh-ed25519",
        "ssh-rsa",
      ]);
      for (const [name, blob] of Object.entries(blobs)) {
        assert.equal(hostKeyBlobProblem(blob), null, name);
      }
    });

    await t.step("bytes appended after any key are refused", () => {
      for (const [name, blob] of Object.entries(blobs)) {
        const longer = concat(blob, sshString(text("A")));
        assert.equal(
          hostKeyBlobProblem(longer),
          "it has bytes after the key",
          name,
        );
      }
    });

    await t.step("a truncated key is refused", () => {
      const blob = blobs["ssh-ed25519"];
      assert.equal(
        hostKeyBlobProblem(blob.subarray(0, blob.length - 1)),
        "it is truncated",
      );
    });

    await t.step("an ed25519 key of the wrong length is refused", () => {
      const blob = concat(
        sshString(text("ssh-ed25519")),
        sshString(new Uint8Array(33)),
      );
      assert.equal(hostKeyBlobProblem(blob), "its ed25519 key is not 32 bytes");
    });

    await t.step(
      "an ECDSA key whose curve name does not match its type is refused",
      () => {
        const blob = blobs["ecdsa-sha2-nistp256"];
        const curveAt = 4 + "ecdsa-sha2-nistp256".length;
        const swapped = blob.slice();
        swapped.set(text("nistp384"), curveAt + 4);
        assert.equal(
          hostKeyBlobProblem(swapped),
          "its curve does not match its type",
        );
      },
    );

    await t.step(
      "an RSA modulus padded with an extra zero byte is refused",
      () => {
        const blob = blobs["ssh-rsa"];
        const view = new DataView(
          blob.buffer,
          blob.byteOffset,
          blob.byteLength,
        );
        const typeEnd = 4 + view.getUint32(0);
        const exponentEnd = typeEnd + 4 + view.getUint32(typeEnd);
        const modulus = blob.subarray(exponentEnd + 4);
        const padded = concat(
          blob.subarray(0, exponentEnd),
          sshString(concat(new Uint8Array([0]), modulus)),
        );
        assert.equal(
          hostKeyBlobProblem(padded),
          "a number in it is negative or padded",
        );
      },
    );

    await t.step("types it does not know are left to ssh2", () => {
      assert.equal(
        hostKeyBlobProblem(
          concat(sshString(text("ssh-ed448")), sshString(new Uint8Array(57))),
        ),
        null,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
