/**
 * Every reference in the repository resolves inside it: the README, the docs and the source
 * comments cite files that exist, and nothing points at notes or trackers a reader of the
 * repository cannot open. Measured facts the code relies on live in docs/measurements.md.
 *
 * Checked in README.md, docs/*.md, bench/README.md, dashboard/README.md (whole text) and in
 * the comments of every source file under the folders in SOURCE_DIRS:
 * - Markdown links to relative paths: the target exists, relative to the file;
 * - path-like words with a folder and a file extension (`broker/edge.ts`, `docs/durability.md`):
 *   the file exists relative to the citing file's folder or one of its parents up to the
 *   repository root (the README cites `broker/auth.ts`, bench/README.md its own folder's
 *   files by their path under bench/);
 * - bare Markdown file names (`README.md`): the same;
 * - no citation of an issue tracker by number (the word issue and a number, or a hash and a
 *   number): say what is meant instead.
 * Names of documents that are not in the repository (FORBIDDEN_NAMES) may not appear in any
 * scanned file at all, comments or code.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SELF = relative(ROOT, fileURLToPath(import.meta.url)).split(sep).join('/');

const MARKDOWN_FILES = ['README.md', 'bench/README.md', 'dashboard/README.md'];
const SOURCE_DIRS = ['contracts', 'common', 'broker', 'ingest', 'api', 'simulators', 'lab', 'bench', 'test', 'scripts', 'dashboard'];
const SOURCE_EXTENSIONS = /\.(?:ts|mts|cts|mjs|cjs|js)$/;
const SKIP_DIRS = new Set(['node_modules', 'fixtures']);

/**
 * Documents that were cited here but are not in the repository. The names are put together
 * from their parts: spelled out here, this list would itself be the reference it forbids.
 */
const named = (...parts: string[]) => new RegExp(parts.join('').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
const FORBIDDEN_NAMES: { pattern: RegExp; why: string }[] = [
  { pattern: named('ARCHITECTURE', '.md'), why: 'not in the repository: the README\'s Architecture section is the architecture' },
  { pattern: named('FIELD', '-', 'NOTES'), why: 'not in the repository: measured facts go to docs/measurements.md' },
  { pattern: named('STYLE', '.md'), why: 'not in the repository' },
  { pattern: named('shared', '/', 'design'), why: 'not in the repository' },
];

/** A tracker outside the repository: the word issue with a number after it, or a hash and a number. */
const TRACKER_REFERENCE = /\bissues? #?\d+|(?<![\w&#/])#\d{1,4}\b(?![0-9A-Fa-f])/gi;

/**
 * Path-like words that are not files in the repository, on purpose. Keep this list short and
 * give each entry its reason.
 */
const ALLOWED: { pattern: RegExp; why: string }[] = [
  { pattern: /^(?:DATA_DIR|dataDir|DIR)\//, why: 'a service\'s state directory at run time (a placeholder), not a repository path' },
  { pattern: /^bench-results\//, why: 'the benchmark\'s output (git-ignored)' },
];

interface Reference {
  file: string;
  line: number;
  text: string;
  problem: string;
}

/** Files under `dir` (repository-relative, `/`-separated) whose name matches `extensions`. */
function walk(dir: string, extensions: RegExp): string[] {
  const abs = join(ROOT, dir);
  if (!existsSync(abs)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) out.push(...walk(path, extensions));
    } else if (extensions.test(entry.name)) {
      out.push(path);
    }
  }
  return out;
}

function markdownFiles(): string[] {
  return [...MARKDOWN_FILES.filter((f) => existsSync(join(ROOT, f))), ...walk('docs', /\.md$/)];
}

function sourceFiles(): string[] {
  return SOURCE_DIRS.flatMap((dir) => walk(dir, SOURCE_EXTENSIONS)).filter((f) => !f.endsWith('.d.ts'));
}

/** Every comment of a TypeScript or JavaScript file, with its offset, found by the compiler's own parser. */
function commentsOf(fileName: string, text: string): { offset: number; text: string }[] {
  const kind = /\.(?:mjs|cjs|js)$/.test(fileName) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, kind);
  const found = new Map<number, string>();
  const add = (ranges: ts.CommentRange[] | undefined) => {
    for (const r of ranges ?? []) found.set(r.pos, text.slice(r.pos, r.end));
  };
  const visit = (node: ts.Node) => {
    add(ts.getLeadingCommentRanges(text, node.getFullStart()));
    add(ts.getTrailingCommentRanges(text, node.getEnd()));
    for (const child of node.getChildren(source)) visit(child);
  };
  visit(source);
  return [...found].sort((a, b) => a[0] - b[0]).map(([offset, comment]) => ({ offset, text: comment }));
}

const MARKDOWN_LINK = /\[[^\]\n]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g;
/** A word with at least one folder and a file extension; not part of a URL or an absolute path. */
const PATH_WORD = /(?<![\w.\/$@:-])((?:\.{1,2}\/)*[\w@-][\w.@-]*(?:\/[\w.@-]+)+\.(?:ts|mts|cts|mjs|cjs|js|md|json|ya?ml|sh|html|css))(?![\w\/-])/g;
/** A Markdown file named without a folder. */
const MARKDOWN_NAME = /(?<![\w.\/$@:-])([\w-]+\.md)(?![\w\/-])/g;

function exists(fromFile: string, target: string, relativeToFileOnly: boolean): boolean {
  let dir = dirname(join(ROOT, fromFile));
  for (;;) {
    if (existsSync(join(dir, target))) return true;
    if (relativeToFileOnly || resolve(dir) === ROOT) return false;
    dir = dirname(dir);
  }
}

function allowed(target: string): boolean {
  return ALLOWED.some((a) => a.pattern.test(target));
}

/** The references in `text` (a Markdown file or one comment) that do not resolve. */
function danglingIn(file: string, text: string, lineOf: (index: number) => number): { found: number; problems: Reference[] } {
  const problems: Reference[] = [];
  let found = 0;
  const report = (index: number, reference: string, problem: string) => problems.push({ file, line: lineOf(index), text: reference, problem });

  for (const m of text.matchAll(MARKDOWN_LINK)) {
    const target = decodeURI(m[1]!.split('#')[0]!);
    if (target === '' || /^[a-z][a-z+.-]*:/i.test(target)) continue; // an anchor or a URL
    found++;
    if (!allowed(target) && !exists(file, target, true)) report(m.index, m[0], `links to ${target}, which does not exist`);
  }
  for (const regex of [PATH_WORD, MARKDOWN_NAME]) {
    for (const m of text.matchAll(regex)) {
      const target = m[1]!;
      found++;
      if (!allowed(target) && !exists(file, target, false)) report(m.index, target, 'names a file that does not exist');
    }
  }
  for (const m of text.matchAll(TRACKER_REFERENCE)) {
    report(m.index, m[0], 'cites an issue tracker outside the repository: say what is meant');
  }
  return { found, problems };
}

function lineCounter(text: string): (index: number) => number {
  return (index) => text.slice(0, index).split('\n').length;
}

function scan(): { checked: number; problems: Reference[] } {
  let checked = 0;
  const problems: Reference[] = [];
  const forbidden = (file: string, text: string) => {
    if (file === SELF) return; // this file names them in order to forbid them
    const lineOf = lineCounter(text);
    for (const { pattern, why } of FORBIDDEN_NAMES) {
      const m = new RegExp(pattern.source, 'g');
      for (const hit of text.matchAll(m)) problems.push({ file, line: lineOf(hit.index), text: hit[0], problem: why });
    }
  };
  for (const file of markdownFiles()) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    forbidden(file, text);
    const result = danglingIn(file, text, lineCounter(text));
    checked += result.found;
    problems.push(...result.problems);
  }
  for (const file of sourceFiles()) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    forbidden(file, text);
    const lineOf = lineCounter(text);
    for (const comment of commentsOf(file, text)) {
      const result = danglingIn(file, comment.text, (index) => lineOf(comment.offset + index));
      checked += result.found;
      problems.push(...result.problems);
    }
  }
  return { checked, problems };
}

describe('references in docs and comments', () => {
  it('resolve inside the repository', () => {
    const { checked, problems } = scan();
    const listing = problems.map((p) => `${p.file}:${p.line}: ${p.text} — ${p.problem}`);
    expect(listing).toEqual([]);
    // The scan saw the references the docs are full of, so an empty list means something.
    expect(checked).toBeGreaterThan(100);
  });

  it('the scanner catches what it is meant to catch', () => {
    const bogus = [
      'see [the design](docs/no-such-design.md) and `broker/no-such-file.ts`',
      'as measured in NOTES-THAT-DO-NOT-EXIST.md; issue 12 explains it',
    ].join('\n');
    const { problems } = danglingIn('README.md', bogus, lineCounter(bogus));
    expect(problems.map((p) => p.text)).toEqual([
      '[the design](docs/no-such-design.md)',
      'docs/no-such-design.md',
      'broker/no-such-file.ts',
      'NOTES-THAT-DO-NOT-EXIST.md',
      'issue 12',
    ]);
    // Real files, URLs, anchors, allow-listed run-time paths and CSS colours pass.
    const fine = 'see [durability](docs/durability.md), [up](#simulators), https://example.org/a/b.md, `DATA_DIR/registry.json`, colour #50F0E6, `broker/edge.ts`';
    expect(danglingIn('README.md', fine, lineCounter(fine)).problems).toEqual([]);
  });

  it('finds comments with the compiler, not in strings or regular expressions', () => {
    const code = [
      "const a = '// not a comment: docs/missing.md';",
      'const r = /["\']\\/\\//g; // a comment after a regex',
      'const t = `${a} /* not one either */`;',
      '/** a block comment */',
      'export { r, t };',
    ].join('\n');
    expect(commentsOf('x.ts', code).map((c) => c.text)).toEqual(['// a comment after a regex', '/** a block comment */']);
  });
});
