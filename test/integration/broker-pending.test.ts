/**
 * Unauthenticated connections are bounded in number: beyond `maxPendingConnections` that have
 * not completed CONNECT, new connections are closed on arrival; a slot frees when one of them
 * connects, closes or times out. Real broker, raw TCP sockets and mqtt.js.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { createBroker, type Broker } from '../../broker/broker.ts';
import { eventually } from '../helpers/stack.ts';

const closers: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function silentSocket(broker: Broker): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = tcpConnect(broker.port, broker.host);
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  closers.push(() => void socket.destroy());
  return { socket, closed };
}

describe('connections before CONNECT', () => {
  it('are capped: the one over the limit is closed at once, and a freed slot is usable again', async () => {
    const broker = await createBroker({ port: 0, maxPendingConnections: 3, connectTimeoutMs: 60_000 });
    closers.push(() => broker.close());
    const held = [await silentSocket(broker), await silentSocket(broker), await silentSocket(broker)];
    await eventually(() => (broker.securityStats().pendingConnections === 3 ? true : undefined), 5_000, 'three pending connections');

    const over = await silentSocket(broker);
    await over.closed; // closed by the broker, not by us
    expect(broker.securityStats().guard.pending_limit).toBe(1);
    expect(held.every(({ socket }) => !socket.destroyed)).toBe(true);

    // An MQTT client finds no slot either…
    const refused = mqtt.connect(broker.url, { clientId: 'late', reconnectPeriod: 0, connectTimeout: 2_000 });
    refused.on('error', () => {});
    await new Promise<void>((resolve) => refused.once('close', () => resolve()));
    expect(refused.connected).toBe(false);
    refused.end(true);

    // …until a silent connection goes away; a client that completes CONNECT frees its slot too.
    held[0]!.socket.destroy();
    await eventually(() => (broker.securityStats().pendingConnections === 2 ? true : undefined), 5_000, 'a freed slot');
    const client = await mqtt.connectAsync(broker.url, { clientId: 'on-time', reconnectPeriod: 0 });
    closers.push(() => client.endAsync());
    expect(client.connected).toBe(true);
    expect(broker.securityStats().pendingConnections).toBe(2);
  });

  it('free their slot when the connect timeout closes them', async () => {
    const broker = await createBroker({ port: 0, maxPendingConnections: 1, connectTimeoutMs: 300 });
    closers.push(() => broker.close());
    const silent = await silentSocket(broker);
    await silent.closed;
    await eventually(() => (broker.securityStats().pendingConnections === 0 ? true : undefined), 5_000, 'the slot freed');
    const client = await mqtt.connectAsync(broker.url, { clientId: 'after-timeout', reconnectPeriod: 0 });
    closers.push(() => client.endAsync());
    expect(client.connected).toBe(true);
  });
});
