/**
 * Runs the CRI validation suite (a critest binary built elsewhere, given by path) against a throw-away ucri:
 *
 *   node dist/hack/critest/main.js --critest /path/to/critest [--log-dir DIR] [--dockerd] [-- extra critest flags]
 *   node dist/hack/critest/main.js --hold      (sets everything up, prints the endpoint, waits for Ctrl-C)
 *
 * It starts a local registry with the stand-in images, a `ucri serve` of its own (temp dirs, socket, cgroups
 * root, CNI bridge), runs critest with the skips of skips.ts, prints ginkgo's summary, and takes it all down.
 * The logs (critest output, ucri log) stay in the log dir. The exit code is critest's. `--dockerd` also starts
 * a private dockerd and serves runtime handler `docker` through it (then pass `-- -runtime-handler=docker`).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage, InvalidArgumentError } from '../../pkg/util/index.js';
import { type CritestEnv, type CritestEnvOptions, startCritestEnv } from './environment.js';
import { ginkgoCounts, ginkgoSummary } from './ginkgo.js';
import { SKIPS, skipRegex } from './skips.js';

/** Runs critest, copying its output to the terminal and to `logFile`; resolves with its exit code. */
async function runCritest(binary: string, args: string[], logFile: string): Promise<number> {
  const out = createWriteStream(logFile);
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const s of [child.stdout, child.stderr]) {
    s.on('data', (d: Buffer) => {
      process.stdout.write(d);
      out.write(d);
    });
  }
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
  });
  await new Promise<void>((resolve) => out.end(resolve));
  return code;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      critest: { type: 'string' },
      'log-dir': { type: 'string' },
      hold: { type: 'boolean' },
      dockerd: { type: 'boolean' },
    },
  });
  const binary = values.critest ?? process.env.CRITEST;
  const envOpts = { dockerd: values.dockerd === true };
  if (values.hold) return withEnv(values['log-dir'], envOpts, holdUntilSignal);
  if (!binary) throw new InvalidArgumentError('give the critest binary: --critest PATH or CRITEST=PATH');
  await fs.access(binary, fs.constants.X_OK).catch((err: unknown) => {
    throw new InvalidArgumentError(`critest "${binary}" is not an executable file`, { cause: err });
  });
  return withEnv(values['log-dir'], envOpts, async (env, logDir) => {
    // A Ctrl-C reaches critest too (same process group); the environment is taken down once it has ended.
    const onSignal = (): void => log('signal received: cleaning up after critest ends');
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const skip = skipRegex();
      for (const s of SKIPS) log(`skipping "${s.pattern}": ${s.why}`);
      const args = [
        `--runtime-endpoint=${env.endpoint}`,
        `--image-endpoint=${env.endpoint}`,
        '-ginkgo.no-color',
        ...(skip ? [`-ginkgo.skip=${skip}`] : []),
        ...positionals,
      ];
      log(`${binary} ${args.join(' ')}`);
      const logFile = path.join(logDir, 'critest.log');
      const code = await runCritest(binary, args, logFile);
      console.log(`\n===== critest summary (exit ${code}; full output ${logFile}) =====`);
      const output = await fs.readFile(logFile, 'utf8');
      console.log(ginkgoSummary(output));
      const counts = ginkgoCounts(output);
      if (counts) console.log(`critest: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
      return code;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
}

const log = (s: string): void => console.log(`critest-harness: ${s}`);

/** Sets the environment up (logs kept in `logDirOpt` or a new temp dir), runs `fn`, and takes it all down. */
async function withEnv(
  logDirOpt: string | undefined,
  envOpts: CritestEnvOptions,
  fn: (env: CritestEnv, logDir: string) => Promise<number>,
): Promise<number> {
  const logDir = path.resolve(logDirOpt ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-critest-logs-'))));
  await fs.mkdir(logDir, { recursive: true });
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-critest-'));
  try {
    const env = await startCritestEnv(workDir, logDir, log, envOpts);
    try {
      return await fn(env, logDir);
    } finally {
      await env.close();
    }
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

/** The environment alone, for running single specs or crictl by hand; Ctrl-C (or SIGTERM) takes it down. */
async function holdUntilSignal(env: CritestEnv): Promise<number> {
  log(`ready: --runtime-endpoint=${env.endpoint} --image-endpoint=${env.endpoint}; Ctrl-C (or SIGTERM) stops`);
  // Signal listeners alone do not keep the event loop alive.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(keepAlive);
  return 0;
}

// A reader that goes away (a closed pipe) must not end the harness before it has taken the environment down.
for (const s of [process.stdout, process.stderr]) s.on('error', () => undefined);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`critest-harness: ${errorMessage(err)}`);
    process.exitCode = 1;
  },
);
