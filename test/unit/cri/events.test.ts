import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ContainerEvents } from '../../../pkg/cri/events.js';
import { ContainerEventResponse, ContainerEventType } from '../../../pkg/cri/gen/cri/v1/api.js';
import { isKind } from '../../../pkg/util/index.js';

const ev = (id: string) =>
  ContainerEventResponse.fromPartial({
    containerId: id,
    containerEventType: ContainerEventType.CONTAINER_CREATED_EVENT,
  });

describe('container events fan-out', () => {
  it('delivers every event to every subscriber in order', async () => {
    const bus = new ContainerEvents(4);
    const a = bus.subscribe();
    const b = bus.subscribe();
    const signal = new AbortController().signal;
    const waiting = a.next(signal);
    bus.publish(ev('1'));
    bus.publish(ev('2'));
    assert.equal((await waiting).containerId, '1');
    assert.equal((await a.next(signal)).containerId, '2');
    assert.equal((await b.next(signal)).containerId, '1');
    assert.equal((await b.next(signal)).containerId, '2');
  });

  it('closes a subscriber that falls behind instead of blocking or dropping silently', async () => {
    const bus = new ContainerEvents(2);
    const slow = bus.subscribe();
    const fast = bus.subscribe();
    const signal = new AbortController().signal;
    for (let i = 0; i < 5; i++) {
      bus.publish(ev(String(i)));
      assert.equal((await fast.next(signal)).containerId, String(i));
    }
    await assert.rejects(slow.next(signal), (e) => isKind(e, 'ResourceExhausted'));
    assert.equal(bus.size, 1, 'the slow subscriber is gone, the fast one stays');
  });

  it('ends a waiting subscriber when its call is cancelled', async () => {
    const bus = new ContainerEvents();
    const s = bus.subscribe();
    const ac = new AbortController();
    const p = s.next(ac.signal);
    ac.abort();
    await assert.rejects(p, (e) => isKind(e, 'Cancelled'));
    s.close();
    assert.equal(bus.size, 0);
  });
});
