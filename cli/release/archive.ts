/**
 * The two release archive formats, written by scripts/compile.ts and read by
 * `sessions upgrade`: tar.gz (ustar) and zip, each holding plain files.
 * node:zlib does the compression, so neither side needs a tar or zip program
 * or another package; only what releases use is supported (regular files,
 * names under 100 bytes, stored or deflated zip entries).
 */
import {
  deflateRawSync,
  gunzipSync,
  gzipSync,
  inflateRawSync,
} from "node:zlib";
import type { ArchiveFormat } from "./targets.ts";

export interface ArchiveEntry {
  name: string;
  data: Uint8Array;
  /** Unix permission bits, e.g. 0o755. */
  mode: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const BLOCK = 512;

export function writeArchive(
  format: ArchiveFormat,
  entries: readonly ArchiveEntry[],
): Uint8Array {
  return format === "zip"
    ? writeZip(entries)
    : new Uint8Array(gzipSync(writeTar(entries)));
}

/** The regular file NAME from an archive, or null when it holds no such file. */
export function readArchiveFile(
  format: ArchiveFormat,
  archive: Uint8Array,
  name: string,
): Uint8Array | null {
  return format === "zip"
    ? readZipFile(archive, name)
    : readTarFile(new Uint8Array(gunzipSync(archive)), name);
}

function writeTar(entries: readonly ArchiveEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const entry of entries) {
    parts.push(tarHeader(entry), entry.data);
    const padding = (BLOCK - entry.data.length % BLOCK) % BLOCK;
    parts.push(new Uint8Array(padding));
  }
  parts.push(new Uint8Array(BLOCK * 2));
  return concat(parts);
}

function tarHeader(entry: ArchiveEntry): Uint8Array {
  const name = encoder.encode(entry.name);
  if (name.length > 100) {
    throw new Error(`archive entry name too long: ${entry.name}`);
  }
  const header = new Uint8Array(BLOCK);
  const put = (offset: number, text: string) =>
    header.set(encoder.encode(text), offset);
  header.set(name, 0);
  put(100, octal(entry.mode, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(entry.data.length, 12));
  put(136, octal(0, 12));
  put(148, "        ");
  put(156, "0");
  put(257, "ustar\u000000");
  const sum = header.reduce((total, byte) => total + byte, 0);
  put(148, octal(sum, 7) + " ");
  return header;
}

/** N as zero-padded octal filling WIDTH bytes including the trailing NUL. */
function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\u0000";
}

function readTarFile(tar: Uint8Array, wanted: string): Uint8Array | null {
  let offset = 0;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) return null;
    const field = (start: number, length: number) =>
      decoder.decode(header.subarray(start, start + length)).replace(
        /\0.*$/s,
        "",
      );
    const prefix = field(257, 6) === "ustar" ? field(345, 155) : "";
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const size = parseInt(field(124, 12).trim() || "0", 8);
    const type = field(156, 1);
    const start = offset + BLOCK;
    if (
      (type === "0" || type === "") &&
      name.replace(/^\.\//, "") === wanted
    ) {
      return tar.slice(start, start + size);
    }
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return null;
}

// Zip: DOS date 1980-01-01 00:00 so archives of the same files are identical.
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const ZIP_LOCAL = 0x04034b50;
const ZIP_CENTRAL = 0x02014b50;
const ZIP_END = 0x06054b50;

function writeZip(entries: readonly ArchiveEntry[]): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = encoder.encode(entry.name);
    const compressed = new Uint8Array(deflateRawSync(entry.data));
    const crc = crc32(entry.data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, ZIP_LOCAL, true);
    local.setUint16(4, 20, true);
    local.setUint16(8, 8, true);
    local.setUint16(10, DOS_TIME, true);
    local.setUint16(12, DOS_DATE, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, compressed.length, true);
    local.setUint32(22, entry.data.length, true);
    local.setUint16(26, name.length, true);
    locals.push(new Uint8Array(local.buffer), name, compressed);

    const central = new DataView(new ArrayBuffer(46));
    central.setUint32(0, ZIP_CENTRAL, true);
    // "Made by" Unix (3), so unzip honours the mode in the external attributes.
    central.setUint16(4, (3 << 8) | 20, true);
    central.setUint16(6, 20, true);
    central.setUint16(10, 8, true);
    central.setUint16(12, DOS_TIME, true);
    central.setUint16(14, DOS_DATE, true);
    central.setUint32(16, crc, true);
    central.setUint32(20, compressed.length, true);
    central.setUint32(24, entry.data.length, true);
    central.setUint16(28, name.length, true);
    central.setUint32(38, ((0o100000 | entry.mode) << 16) >>> 0, true);
    central.setUint32(42, offset, true);
    centrals.push(new Uint8Array(central.buffer), name);
    offset += 30 + name.length + compressed.length;
  }
  const directory = concat(centrals);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, ZIP_END, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, directory.length, true);
  end.setUint32(16, offset, true);
  return concat([...locals, directory, new Uint8Array(end.buffer)]);
}

function readZipFile(zip: Uint8Array, wanted: string): Uint8Array | null {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let end = zip.length - 22;
  while (end >= 0 && view.getUint32(end, true) !== ZIP_END) end--;
  if (end < 0) throw new Error("not a zip archive");
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  for (let index = 0; index < count; index++) {
    if (view.getUint32(at, true) !== ZIP_CENTRAL) {
      throw new Error("damaged zip directory");
    }
    const method = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    const compressedSize = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const localOffset = view.getUint32(at + 42, true);
    const name = decoder.decode(zip.subarray(at + 46, at + 46 + nameLength));
    if (name === wanted) {
      const dataStart = localOffset + 30 +
        view.getUint16(localOffset + 26, true) +
        view.getUint16(localOffset + 28, true);
      if (method !== 0 && method !== 8) {
        throw new Error(`unsupported zip compression method ${method}`);
      }
      const raw = zip.subarray(dataStart, dataStart + compressedSize);
      const data = method === 0 ? raw.slice() : new Uint8Array(
        inflateRawSync(raw),
      );
      if (crc32(data) !== crc) {
        throw new Error(`zip entry ${name} is damaged`);
      }
      return data;
    }
    at += 46 + nameLength + extraLength + commentLength;
  }
  return null;
}

// node:zlib's crc32 is missing from the Node types Deno ships, so it is computed here.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(
    parts.reduce((total, part) => total + part.length, 0),
  );
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
