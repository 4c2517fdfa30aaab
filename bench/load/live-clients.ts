/**
 * Entry point of a process holding the dashboard clients of the latency stage: N socket.io
 * clients, each subscribed to every reading, timing every delivery against the publish time
 * the publisher wrote into the reading's `seq` (epoch µs). The clients opt in to batches
 * (`auth: { batch: true }`), as the dashboard does: each `readings` event carries the
 * readings of one server event-loop turn, and every reading in it is timed.
 *
 * Two client implementations:
 * - `wire` (default): a WebSocket speaking the engine.io v4 / socket.io v5 protocol directly
 *   (open, CONNECT, `subscribe` with an ack, ping/pong, events), finding `seq` in the frame
 *   without parsing the JSON. On a 2-core machine 100 full socket.io-client instances
 *   decoding 100,000 events/s would take a core from the server they are measuring; in a
 *   real lab the browsers are elsewhere. The server does exactly the same work either way.
 * - `socket.io-client`: the real client library, for cross-checking the wire clients.
 */
import { performance } from 'node:perf_hooks';
import { io as ioClient, type Socket as IoSocket } from 'socket.io-client';
import WebSocket from 'ws';
import { createHistogram, recordValue, type Histogram } from '../histogram.ts';
import { serveWorker } from '../runtime.ts';

export interface LiveClientsSetup {
  apiUrl: string;
  clients: number;
  mode: 'wire' | 'socket.io-client';
  /** Bearer token / auth for the live feed when the API requires one. */
  authToken?: string | undefined;
}

export interface LatencySamples {
  histogram: Histogram;
  /** Deliveries of readings published at or after `fromUs`. */
  deliveries: number;
  /** Frames whose `seq` could not be read. */
  unreadable: number;
}

const CHUNK = 1 << 20;
/** Samples as (publish µs, latency µs) pairs, in chunks so nothing is copied as they grow. */
const publishChunks: Float64Array[] = [];
const latencyChunks: Float64Array[] = [];
let used = CHUNK;
let unreadable = 0;
const closers: (() => void)[] = [];

function nowUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

function record(publishedUs: number, receivedUs: number): void {
  if (used === CHUNK) {
    publishChunks.push(new Float64Array(CHUNK));
    latencyChunks.push(new Float64Array(CHUNK));
    used = 0;
  }
  publishChunks[publishChunks.length - 1]![used] = publishedUs;
  latencyChunks[latencyChunks.length - 1]![used] = receivedUs - publishedUs;
  used += 1;
}

const SEQ_KEY = Buffer.from('"seq":');

/** Records every `seq` in the frame (one per reading of a batch), read straight from the bytes. */
function recordSeqs(frame: Buffer, receivedUs: number): number {
  let found = 0;
  for (let at = frame.indexOf(SEQ_KEY); at >= 0; at = frame.indexOf(SEQ_KEY, at + SEQ_KEY.length)) {
    let value = 0;
    for (let i = at + SEQ_KEY.length; i < frame.length; i += 1) {
      const c = frame[i]!;
      if (c < 48 || c > 57) break;
      value = value * 10 + (c - 48);
    }
    if (value > 0) {
      record(value, receivedUs);
      found += 1;
    }
  }
  return found;
}

function wireClient(setup: LiveClientsSetup): Promise<void> {
  const url = new URL('/socket.io/?EIO=4&transport=websocket', setup.apiUrl.replace(/^http/, 'ws'));
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, ...(setup.authToken ? { headers: { authorization: `Bearer ${setup.authToken}` } } : {}) });
    const timer = setTimeout(() => fail(new Error('socket.io handshake timed out')), 30_000);
    let subscribed = false;
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.terminate();
      reject(error);
    };
    socket.on('error', (error) => (subscribed ? undefined : fail(error)));
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      const receivedUs = nowUs();
      if (isBinary) return;
      const type = data[0];
      if (type === 0x34 /* '4' engine.io message */ && data[1] === 0x32 /* '2' socket.io EVENT */) {
        if (recordSeqs(data, receivedUs) === 0) unreadable += 1;
      } else if (type === 0x32 /* '2' ping */) {
        socket.send('3');
      } else if (type === 0x30 /* '0' open */) {
        socket.send(`40${JSON.stringify({ batch: true, ...(setup.authToken ? { token: setup.authToken } : {}) })}`);
      } else if (type === 0x34 && data[1] === 0x30 /* '40' connected */) {
        socket.send('420["subscribe",{}]');
      } else if (type === 0x34 && data[1] === 0x33 /* '43' ack */) {
        const text = data.toString('utf8');
        if (!text.includes('"ok":true')) return fail(new Error(`subscribe refused: ${text.slice(0, 200)}`));
        subscribed = true;
        clearTimeout(timer);
        resolve();
      } else if (type === 0x34 && data[1] === 0x34 /* '44' connect error */) {
        fail(new Error(`socket.io connect refused: ${data.toString('utf8').slice(0, 200)}`));
      }
    });
    closers.push(() => socket.terminate());
  });
}

function libraryClient(setup: LiveClientsSetup): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket: IoSocket = ioClient(setup.apiUrl, {
      transports: ['websocket'],
      reconnection: false,
      auth: { batch: true, ...(setup.authToken ? { token: setup.authToken } : {}) },
      ...(setup.authToken ? { extraHeaders: { authorization: `Bearer ${setup.authToken}` } } : {}),
    });
    socket.on('readings', (readings: { seq?: number }[]) => {
      const receivedUs = nowUs();
      for (const reading of readings) {
        if (typeof reading.seq === 'number') record(reading.seq, receivedUs);
        else unreadable += 1;
      }
    });
    socket.on('connect_error', reject);
    socket.on('connect', () => {
      socket.emit('subscribe', {}, (ack: { ok: boolean; error?: string }) => (ack.ok ? resolve() : reject(new Error(ack.error))));
    });
    closers.push(() => socket.disconnect());
  });
}

const api = {
  async connect(setup: LiveClientsSetup) {
    const started = performance.now();
    const connectOne = setup.mode === 'wire' ? wireClient : libraryClient;
    // A few at a time: a burst of handshakes is not what is being measured.
    for (let i = 0; i < setup.clients; i += 10) {
      await Promise.all(Array.from({ length: Math.min(10, setup.clients - i) }, () => connectOne(setup)));
    }
    return { connected: setup.clients, ms: Math.round(performance.now() - started) };
  },

  /** Latencies of readings published in [fromUs, toUs), and how many there were. */
  samples(window: { fromUs: number; toUs: number }): LatencySamples {
    const histogram = createHistogram();
    let deliveries = 0;
    publishChunks.forEach((published, c) => {
      const latencies = latencyChunks[c]!;
      const length = c === publishChunks.length - 1 ? used : CHUNK;
      for (let i = 0; i < length; i += 1) {
        const p = published[i]!;
        if (p < window.fromUs || p >= window.toUs) continue;
        deliveries += 1;
        recordValue(histogram, latencies[i]!);
      }
    });
    return { histogram, deliveries, unreadable };
  },

  close() {
    for (const close of closers) close();
    closers.length = 0;
  },
};

export type LiveClientsApi = typeof api;

serveWorker(api, { pid: process.pid });
