#!/usr/bin/env node
/**
 * The `ucri` command: `ucri serve` runs the daemon; the other verbs are clients of a running daemon or
 * report facts about this build.
 */
import { ConfigError, loadConfig, parseFlags, serveHelp } from './config.js';
import { startDaemon, ucriVersion } from './serve.js';

const USAGE = `usage: ucri <command> [flags]

commands:
  serve     run the CRI daemon (see ucri serve --help)
  pull      pull an image through the daemon, with progress (ucri pull [--socket PATH] IMAGE)
  images    list the daemon's images like crictl images (ucri images [--socket PATH] [IMAGE])
  ps        list the daemon's containers like crictl ps -a (ucri ps [--socket PATH])
  inspect   a container's verbose status as JSON (ucri inspect [--socket PATH] ID)
  exec      run a command in a container (ucri exec [-i] [-t] [--socket PATH] ID CMD...)
  attach    attach to a container's stdio (ucri attach [-i] [-t] [--socket PATH] ID)
  port-forward  forward a local port into a pod (ucri port-forward [--socket PATH] POD LOCAL:REMOTE)
  version   print ucri's version
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'serve': {
      const flags = parseFlags(rest);
      if (flags.help) {
        process.stdout.write(serveHelp());
        return 0;
      }
      const daemon = await startDaemon(loadConfig(flags));
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await daemon.stop();
      return 0;
    }
    // The client verbs are imported when used, so that `ucri serve` never loads the client side (grpc-js: ~12 MiB
    // of the daemon's RSS; hack/bundle.ts checks that it stays out of what the program loads at start).
    case 'pull':
      return (await import('./pull.js')).pullCommand(rest);
    case 'images':
      return (await import('./images.js')).imagesCommand(rest);
    case 'ps':
      return (await import('./ps.js')).psCommand(rest);
    case 'inspect':
      return (await import('./inspect.js')).inspectCommand(rest);
    case 'exec':
      return (await import('./exec.js')).execCommand(rest);
    case 'attach':
      return (await import('./exec.js')).attachCommand(rest);
    case 'port-forward':
      return (await import('./port-forward.js')).portForwardCommand(rest);
    case 'version':
    case '--version':
      process.stdout.write(`ucri ${ucriVersion()} (CRI runtime.v1)\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`ucri: unknown command "${cmd}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`ucri: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`ucri: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
