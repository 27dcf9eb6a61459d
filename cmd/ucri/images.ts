/**
 * `ucri images [--socket PATH] [IMAGE]`: lists the daemon's images like `crictl images`: IMAGE, TAG,
 * IMAGE ID (13 characters) and SIZE; images known only by digest show `<none>` as their tag.
 */
import * as grpc from '@grpc/grpc-js';
import { type Image, ImageServiceClient, type ListImagesResponse } from '../../pkg/cri/gen/cri/v1/api.js';
import { clientArgs, humanBytes } from './pull.js';

/** The rows `ucri images` prints for one image: one per tag (or one `<none>` row). */
export function imageRows(img: Image): string[][] {
  const id = img.id.replace(/^sha256:/, '').slice(0, 13);
  const size = humanBytes(Number(img.size));
  const rows: string[][] = [];
  for (const t of img.repoTags) {
    const colon = t.lastIndexOf(':');
    rows.push([t.slice(0, colon), t.slice(colon + 1), id, size]);
  }
  if (rows.length === 0) {
    const repo = img.repoDigests[0]?.split('@')[0] ?? '<none>';
    rows.push([repo, '<none>', id, size]);
  }
  return rows;
}

/** Column-aligned text, as crictl's tabwriter prints it. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

export async function imagesCommand(
  argv: readonly string[],
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const { socket, args } = clientArgs(argv);
  if (args.length > 1) {
    process.stderr.write('usage: ucri images [--socket PATH] [IMAGE]\n');
    return 2;
  }
  const client = new ImageServiceClient(`unix://${socket}`, grpc.credentials.createInsecure());
  try {
    const res = await new Promise<ListImagesResponse>((resolve, reject) =>
      client.listImages(
        {
          filter: args[0]
            ? { image: { image: args[0], annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' } }
            : undefined,
        },
        new grpc.Metadata(),
        { deadline: Date.now() + 30_000 },
        (err, r) => (err ? reject(err) : resolve(r)),
      ),
    );
    const rows = [['IMAGE', 'TAG', 'IMAGE ID', 'SIZE'], ...res.images.flatMap(imageRows)];
    out.write(`${table(rows)}\n`);
    return 0;
  } catch (err) {
    const e = err as grpc.ServiceError;
    process.stderr.write(`ucri images: ${e.details ?? e.message}\n`);
    return 1;
  } finally {
    client.close();
  }
}
