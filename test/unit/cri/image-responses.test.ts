/**
 * ImageStatus and ListImages answers built and encoded once per image state (pkg/cri/image/responses.ts and
 * toCriImage's cache): shared while the store's frozen record is the same, rebuilt when it is replaced, and
 * never shared for records that are not frozen.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyImageConfig, type ImageRecord } from '../../../pkg/containerizer/index.js';
import { ImageStatusResponse, ListImagesResponse } from '../../../pkg/cri/gen/cri/v1/api.js';
import { ImageServiceDefinition } from '../../../pkg/cri/image/index.js';
import { listResponse, statusResponse } from '../../../pkg/cri/image/responses.js';
import { toCriImage } from '../../../pkg/cri/image/translate.js';
import { ImageServiceService } from '../../../pkg/cri/services.js';

function record(tag: string, user = ''): ImageRecord {
  return {
    id: `sha256:${'a'.repeat(64)}`,
    repoTags: [tag],
    repoDigests: [],
    size: 10,
    config: { ...emptyImageConfig(), user },
    kind: 'docker',
    pinned: false,
    layers: [],
    manifestDigest: '',
    pulledAt: 0,
  };
}

describe('image answers built once per image state', () => {
  it('shares the Image and the ImageStatus answer of a frozen record, and encodes that answer once', () => {
    const r = Object.freeze(record('docker.io/library/busybox:1', '1002'));
    const img = toCriImage(r);
    assert.equal(toCriImage(r), img);
    assert.ok(Object.isFrozen(img) && Object.isFrozen(img.repoTags) && Object.isFrozen(img.spec));
    assert.equal(img.uid?.value, 1002n);
    const res = statusResponse(img);
    assert.equal(statusResponse(img), res);
    assert.deepEqual(ImageStatusResponse.decode(ImageServiceDefinition.imageStatus.responseSerialize(res)), {
      image: img,
      info: {},
    });
    const bytes = ImageServiceDefinition.imageStatus.responseSerialize(res);
    assert.equal(ImageServiceDefinition.imageStatus.responseSerialize(res), bytes, 'encoded once');
    assert.deepEqual(bytes, ImageServiceService.imageStatus.responseSerialize(res));

    const changed = Object.freeze(record('docker.io/library/busybox:2'));
    const img2 = toCriImage(changed);
    assert.notEqual(img2, img, 'a replaced record gets a new Image');
    assert.deepEqual(img2.repoTags, ['docker.io/library/busybox:2']);
    assert.notEqual(statusResponse(img2), res);
  });

  it('builds per call what is not frozen', () => {
    const r = record('docker.io/library/busybox:1');
    const img = toCriImage(r);
    assert.notEqual(toCriImage(r), img);
    assert.ok(!Object.isFrozen(img));
    const res = statusResponse(img);
    assert.notEqual(statusResponse(img), res);
    const before = ImageServiceDefinition.imageStatus.responseSerialize(res);
    r.repoTags.push('docker.io/library/busybox:x');
    res.image = toCriImage(r);
    const after = ImageServiceDefinition.imageStatus.responseSerialize(res);
    assert.notDeepEqual(after, before, 'an answer that is not frozen is encoded again');
    assert.deepEqual(listResponse([img]).images, [img]);
    assert.notEqual(listResponse([img]), listResponse([img]));
  });

  it('reuses the ListImages answer while the list holds the same Images in the same order', () => {
    const a = toCriImage(Object.freeze(record('a:1')));
    const b = toCriImage(Object.freeze({ ...record('b:1'), id: `sha256:${'b'.repeat(64)}` }));
    const res = listResponse([a, b]);
    assert.equal(listResponse([a, b]), res);
    assert.notEqual(listResponse([b, a]), res);
    const ab = listResponse([a, b]);
    assert.deepEqual(ListImagesResponse.decode(ImageServiceDefinition.listImages.responseSerialize(ab)).images, [a, b]);
    assert.equal(
      ImageServiceDefinition.listImages.responseSerialize(ab),
      ImageServiceDefinition.listImages.responseSerialize(ab),
    );
    assert.notEqual(listResponse([a]), ab);
    assert.deepEqual(listResponse([]).images, []);
  });
});
