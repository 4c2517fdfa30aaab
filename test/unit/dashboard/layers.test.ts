import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The dashboard's layers: views → model → contracts. The model is DOM-free and never
// imports a view, so everything in dashboard/model/ is unit-testable without a browser.
const DASHBOARD = join(import.meta.dirname, '..', '..', '..', 'dashboard');
const MODEL_PACKAGES = new Set(['zod', 'socket.io-client']);

function importsOf(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  return [...source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g)].map((m) => (m[1] ?? m[2])!);
}

describe('dashboard layers', () => {
  const modelFiles = readdirSync(join(DASHBOARD, 'model')).filter((f) => f.endsWith('.ts'));

  it('the model imports only the model, contracts and a few packages', () => {
    expect(modelFiles.length).toBeGreaterThan(0);
    for (const file of modelFiles) {
      for (const specifier of importsOf(join(DASHBOARD, 'model', file))) {
        const allowed = /^\.\/[\w-]+\.ts$/.test(specifier) || /^\.\.\/\.\.\/contracts\/[\w-]+\.ts$/.test(specifier) || MODEL_PACKAGES.has(specifier);
        expect(allowed, `${file} imports ${specifier}`).toBe(true);
      }
    }
  });

  it('the model uses no DOM', () => {
    for (const file of modelFiles) {
      const code = readFileSync(join(DASHBOARD, 'model', file), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      expect(code, file).not.toMatch(/\bdocument\.|\bwindow\.|\b(HTML|SVG)\w*Element\b|\brequestAnimationFrame\b|\blocalStorage\b/);
    }
  });
});
