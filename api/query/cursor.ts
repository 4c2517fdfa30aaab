/**
 * Paging cursors: opaque to clients (base64url of a small JSON document), strict when read
 * back. A cursor names the last point a page returned — raw: its time, kind and series;
 * windows: its group (device or site) and window start — plus a fingerprint of the query, so
 * a cursor handed to a different query is refused instead of silently skipping data.
 */
import { z } from 'zod';
import { AppError } from '../../common/errors.ts';

const RawCursorSchema = z.strictObject({
  m: z.literal('r'),
  q: z.string().max(16),
  t: z.number().int(),
  /** Index of the kind in the request's kinds (one kind, or every known kind in catalogue order). */
  k: z.number().int().min(0).max(10_000),
  /** The series key: device and the registry tags, in a fixed order. */
  s: z.array(z.string().max(200)).max(8),
});
const WindowCursorSchema = z.strictObject({
  m: z.literal('w'),
  q: z.string().max(16),
  /** The group (device id, site, or '' for all). */
  g: z.string().max(200),
  t: z.number().int(),
});
const CursorSchema = z.discriminatedUnion('m', [RawCursorSchema, WindowCursorSchema]);
export type RawCursor = z.infer<typeof RawCursorSchema>;
export type WindowCursor = z.infer<typeof WindowCursorSchema>;
export type Cursor = z.infer<typeof CursorSchema>;

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

/** Reads a cursor back, or throws BAD_REQUEST naming `cursor`. */
export function decodeCursor(text: string, fingerprint: string): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const result = CursorSchema.safeParse(parsed);
  if (!result.success) throw new AppError('BAD_REQUEST', 'cursor: not a cursor this API issued; pass meta.nextCursor of the previous page unchanged');
  if (result.data.q !== fingerprint) {
    throw new AppError('BAD_REQUEST', 'cursor: it belongs to a different query; keep every other parameter as it was for the first page');
  }
  return result.data;
}

/** A short, stable fingerprint of the parameters that shape a result's order and content. */
export function queryFingerprint(parts: readonly unknown[]): string {
  // FNV-1a, 32 bit: collisions only weaken an error message, never the paging itself.
  let hash = 0x811c9dc5;
  const text = JSON.stringify(parts);
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(36);
}
