/**
 * `ucri images [--socket PATH] [IMAGE]`: lists the daemon's images like `crictl images`: IMAGE, TAG,
 * IMAGE ID (13 characters) and SIZE; images known only by digest show `<none>` as their tag.
 */
import { ImageServiceClient } from '../../pkg/cri/client.js';
import type { Image, ListImagesResponse } from '../../pkg/cri/gen/cri/v1/api.js';
import { clientArgs, humanBytes, table, unary, withClient } from './client.js';

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

export async function imagesCommand(
  argv: readonly string[],
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const { socket, args } = clientArgs(argv);
  if (args.length > 1) {
    process.stderr.write('usage: ucri images [--socket PATH] [IMAGE]\n');
    return 2;
  }
  return withClient('images', socket, ImageServiceClient, async (client) => {
    const res = await unary<ListImagesResponse>((md, o, cb) =>
      client.listImages(
        {
          filter: args[0]
            ? { image: { image: args[0], annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' } }
            : undefined,
        },
        md,
        o,
        cb,
      ),
    );
    const rows = [['IMAGE', 'TAG', 'IMAGE ID', 'SIZE'], ...res.images.flatMap(imageRows)];
    out.write(`${table(rows)}\n`);
    return 0;
  });
}
