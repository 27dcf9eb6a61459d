/**
 * CLI: runs a local registry in the foreground until SIGINT/SIGTERM, then stops it and removes its storage.
 *
 *   node dist/hack/registry/main.js start [--port N] [--user U --password P] [--log-level info]
 */
import { parseArgs } from 'node:util';
import { errorMessage, InvalidArgumentError } from '../../pkg/util/index.js';
import { startRegistry } from './registry.js';

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      'log-level': { type: 'string' },
    },
  });
  if (positionals[0] !== 'start')
    throw new InvalidArgumentError(`unknown command "${positionals[0] ?? ''}": use start`);
  if ((values.user === undefined) !== (values.password === undefined)) {
    throw new InvalidArgumentError('--user and --password go together');
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new InvalidArgumentError(`--port "${values.port}" is not a port`);
  }
  const level = values['log-level'];
  if (level !== undefined && !['error', 'warn', 'info', 'debug'].includes(level)) {
    throw new InvalidArgumentError(`--log-level "${level}" unknown`);
  }
  const reg = await startRegistry({
    port,
    auth: values.user && values.password ? { username: values.user, password: values.password } : undefined,
    logLevel: level as 'error' | 'warn' | 'info' | 'debug' | undefined,
  });
  console.log(`registry ${reg.url} (pid ${reg.pid}, storage ${reg.storageDir}); Ctrl-C stops it`);
  // Signal listeners alone do not keep Node's event loop alive (the registry child is unref'd).
  const keepAlive = setInterval(() => undefined, 1 << 30);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(keepAlive);
  await reg.stop();
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`registry: ${errorMessage(err)}`);
  process.exitCode = 1;
});
