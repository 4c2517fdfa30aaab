/**
 * A second process for the lock tests (spawned with `node --import tsx`):
 * - `increment <file> <count> <goFile>`: once `<goFile>` exists, adds 1 to the document's
 *   counter `count` times through the document store; prints the revisions it wrote.
 * - `hold <lockFile> <leaseMs>`: takes the lock, prints "held", and keeps it (renewing) until killed.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { acquireFileLock } from '../../../common/store/file-lock.ts';
import { openDocumentStore } from '../../../common/store/document-store.ts';

const [mode, target, arg, goFile] = process.argv.slice(2);

if (mode === 'increment') {
  const store = await openDocumentStore<number, { count: number }>({
    file: target!,
    what: 'the counter',
    format: 'test-counter',
    content: z.object({ count: z.number().int() }),
    decode: (content) => content.count,
    encode: (count) => ({ count }),
    empty: () => 0,
    lockTimeoutMs: 60_000,
  });
  process.stdout.write('ready\n');
  while (!existsSync(goFile!)) await new Promise((resolve) => setTimeout(resolve, 5));
  const revisions: number[] = [];
  for (let i = 0; i < Number(arg); i++) {
    await store.update((count) => ({ result: undefined, next: count + 1 }));
    revisions.push(store.revision);
    // A moment between changes (as between requests), so the other processes' waits end.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 4));
  }
  await store.close();
  process.stdout.write(`${JSON.stringify(revisions)}\n`);
} else if (mode === 'hold') {
  await acquireFileLock(target!, { what: 'the test document', leaseMs: Number(arg) });
  process.stdout.write('held\n');
  setInterval(() => {}, 1_000);
} else {
  throw new Error(`unknown mode ${mode}`);
}
