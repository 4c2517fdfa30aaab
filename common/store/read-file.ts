/** Reading a file together with its identity (inode, mtime, size): both from one open, so they belong together. */
import { open } from 'node:fs/promises';

export interface FileIdentity {
  ino: number;
  mtimeMs: number;
  size: number;
}

/** The file's text and identity; undefined when it does not exist. */
export async function readWithIdentity(file: string): Promise<{ text: string; identity: FileIdentity } | undefined> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const s = await handle.stat();
    return { text: await handle.readFile('utf8'), identity: { ino: s.ino, mtimeMs: s.mtimeMs, size: s.size } };
  } finally {
    await handle.close();
  }
}
