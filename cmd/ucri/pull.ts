/**
 * `ucri pull [--socket PATH] [--creds USER:PASS] IMAGE`: pulls through the daemon (which holds the store)
 * with ucri's streaming pull, drawing a progress bar of bytes downloaded and layers extracted on a
 * terminal, and one plain line per phase (and per layer) otherwise. Prints the image id at the end.
 */
import { ImagesClient } from '../../pkg/cri/client.js';
import type { PullImageProgress } from '../../pkg/cri/gen/ucri/v1/ucri.js';
import { clientArgs, humanBytes, withClient } from './client.js';

function bar(p: PullImageProgress, width = 30): string {
  const total = Number(p.totalBytes);
  const done = Number(p.downloadedBytes);
  const frac = total > 0 ? Math.min(1, done / total) : p.phase === 'done' ? 1 : 0;
  const filled = Math.round(frac * width);
  const pct = `${Math.round(frac * 100)}%`.padStart(4);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${pct} ${humanBytes(done)}/${humanBytes(total)}  layers ${p.extractedLayers}/${p.totalLayers}  ${p.phase}`;
}

/** Runs the verb; resolves to the exit code. */
export async function pullCommand(argv: readonly string[], out: NodeJS.WriteStream = process.stdout): Promise<number> {
  const { socket, values, args } = clientArgs(argv, ['creds']);
  const image = args[0];
  if (args.length !== 1 || image === undefined) {
    process.stderr.write('usage: ucri pull [--socket PATH] [--creds USER:PASS] IMAGE\n');
    return 2;
  }
  const creds = values.creds;
  const colon = creds?.indexOf(':') ?? -1;
  const tty = out.isTTY === true;
  let lastLine = '';
  return withClient('pull', socket, ImagesClient, async (client) => {
    try {
      const id = await new Promise<string>((resolve, reject) => {
        const call = client.pullImage({
          image,
          username: creds && colon > 0 ? creds.slice(0, colon) : (creds ?? ''),
          password: creds && colon > 0 ? creds.slice(colon + 1) : '',
        });
        let imageId = '';
        call.on('data', (p: PullImageProgress) => {
          if (p.imageId) imageId = p.imageId;
          if (tty) out.write(`\r${bar(p)}\x1b[K`);
          else {
            // Plain output: one line per phase change or extracted layer, never per chunk.
            const line = `${p.phase} layers ${p.extractedLayers}/${p.totalLayers}`;
            if (line !== lastLine)
              out.write(`${line} ${humanBytes(Number(p.downloadedBytes))}/${humanBytes(Number(p.totalBytes))}\n`);
            lastLine = line;
          }
        });
        call.on('error', reject);
        call.on('end', () => resolve(imageId));
      });
      if (tty) out.write('\n');
      out.write(`Image is up to date for ${id}\n`);
      return 0;
    } catch (err) {
      if (tty) out.write('\n'); // end the progress bar before the error
      throw err;
    }
  });
}
