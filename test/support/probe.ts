/**
 * Builds and runs the Go probe (test/probe), a grpc-go 1.33 client that dials the CRI socket the way
 * crictl 1.26 does. It is built once per test process in GOPATH mode against Debian's Go packages
 * (golang-go, golang-google-grpc-dev, golang-google-protobuf-dev); the binary and the Go build cache live in a
 * temp dir removed when the process exits.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Result of one probe run. */
export interface ProbeResult {
  code: number;
  stdout: string;
  stderr: string;
}

const GOCODE = '/usr/share/gocode';
const REQUIRED = [
  ['google.golang.org/grpc', 'golang-google-grpc-dev'],
  ['google.golang.org/protobuf/encoding/protowire', 'golang-google-protobuf-dev'],
  ['golang.org/x/net/http2', 'golang-golang-x-net-dev'],
] as const;

/** The repo root, found from this file (works from the source tree and from dist/). */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('probe: cannot find the repo root (package.json) above test/support');
    dir = up;
  }
  return dir;
}

function run(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number },
): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        env: opts.env ?? process.env,
        cwd: opts.cwd,
        maxBuffer: 64 << 20,
        timeout: opts.timeoutMs ?? 0,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new Error(`probe: cannot run ${file}: ${err.message}`, { cause: err }));
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
  });
}

const STREAM_REQUIRED = [
  ['github.com/docker/spdystream', 'golang-github-docker-spdystream-dev'],
  ['github.com/gorilla/websocket', 'golang-github-gorilla-websocket-dev'],
] as const;

const built = new Map<string, Promise<string>>();

/** Builds the probe once per process and returns the binary's path. Rejects with a clear message if Go or the Debian Go packages are missing. */
export function buildProbe(): Promise<string> {
  return buildOnce('probe', REQUIRED);
}

/** Builds test/streamprobe (the Go SPDY/WebSocket streaming client) once per process. */
export function buildStreamProbe(): Promise<string> {
  return buildOnce('streamprobe', STREAM_REQUIRED);
}

function buildOnce(name: string, required: readonly (readonly [string, string])[]): Promise<string> {
  let b = built.get(name);
  if (!b) {
    b = build(name, required);
    built.set(name, b);
  }
  return b;
}

async function build(name: string, required: readonly (readonly [string, string])[]): Promise<string> {
  for (const [pkg, deb] of required) {
    if (!existsSync(path.join(GOCODE, 'src', pkg))) {
      throw new Error(`probe: Go package ${pkg} missing under ${GOCODE}; install the Debian package ${deb}`);
    }
  }
  const dir = mkdtempSync(path.join(tmpdir(), `ucri-${name}-`));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, name);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GO111MODULE: 'off',
    GOPATH: `${path.join(dir, 'gopath')}:${GOCODE}`,
    GOCACHE: path.join(dir, 'cache'),
    GOFLAGS: '',
    CGO_ENABLED: '0',
  };
  let res: ProbeResult;
  try {
    // GOPATH mode refuses absolute package paths: build `./test/probe` from the repo root.
    res = await run('go', ['build', '-o', bin, `./test/${name}`], { env, cwd: repoRoot() });
  } catch (err) {
    throw new Error('probe: cannot run `go` (install the Debian package golang-go)', { cause: err });
  }
  if (res.code !== 0) throw new Error(`probe: go build failed (exit ${res.code}):\n${res.stderr}`);
  return bin;
}

/** Runs the stream probe, requires it to exit 0 (its stderr is the failure message) and parses its JSON output. */
export async function streamProbeJson<T>(args: string[], stdin = ''): Promise<T> {
  const r = await runStreamProbe(args, stdin);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

/** Runs the stream probe with `args` and `stdin`; never rejects on a non-zero exit. */
export async function runStreamProbe(args: string[], stdin = '', signal?: AbortSignal): Promise<ProbeResult> {
  const bin = await buildStreamProbe();
  return new Promise((resolve, reject) => {
    const opts = {
      maxBuffer: 64 << 20,
      timeout: 120_000,
      encoding: 'utf8' as const,
      signal,
      killSignal: 'SIGKILL' as const,
    };
    const child = execFile(bin, args, opts, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`streamprobe: cannot run: ${err.message}`, { cause: err }));
        return;
      }
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
    child.stdin?.end(stdin);
  });
}

/** Runs the probe with `args` (building it first); never rejects on a non-zero exit, only if it cannot run. */
export async function runProbe(args: string[]): Promise<ProbeResult> {
  const bin = await buildProbe();
  return run(bin, args, { timeoutMs: 120_000 });
}
