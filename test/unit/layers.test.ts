// layers.test.ts — every relative import in src/**/*.ts points down the floors of the
// "Layers" table in docs/ARCHITECTURE.md (own room, or a room on a lower floor). The table is
// read from the doc, so the doc and this check cannot drift apart.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const srcDir = path.join(repo, 'src');

/** Room name → floor, from the table rows `| 3 | \`recv/\`, \`send/\` | … |`. */
function readFloors(): Map<string, number> {
  const doc = readFileSync(path.join(repo, 'docs', 'ARCHITECTURE.md'), 'utf8');
  const section = /^## Layers\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(doc)?.[1];
  if (section === undefined) throw new Error('docs/ARCHITECTURE.md has no "## Layers" section');
  const floors = new Map<string, number>();
  for (const row of section.matchAll(/^\|\s*(\d+)\s*\|([^|]*)\|/gm)) {
    for (const room of (row[2] ?? '').matchAll(/`([^`]+)`/g)) {
      floors.set((room[1] ?? '').replace(/\/$/, ''), Number(row[1]));
    }
  }
  return floors;
}

/** The room of a path inside src/: its top-level folder, or its file name for files directly in src/. */
function roomOf(absPath: string): string {
  const parts = path.relative(srcDir, absPath).split(path.sep);
  return parts.length > 1 ? (parts[0] as string) : (parts[0] as string).replace(/\.js$/, '.ts');
}

// Static `import … from`, `export … from`, bare `import '…'`, and `import('…')` (value or type).
const IMPORT_RE =
  /^\s*(?:import|export)\s[^;'"]*?\sfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;

/** Relative import specifiers of one file (block comments and whole-line // comments removed). */
export function importsOf(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...code.matchAll(IMPORT_RE)].map((m) => (m[1] ?? m[2] ?? m[3]) as string).filter((s) => s.startsWith('.'));
}

interface Edge {
  file: string;
  target: string;
  from: string;
  to: string;
}

function crossRoomImports(): Edge[] {
  const edges: Edge[] = [];
  const files = readdirSync(srcDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  for (const rel of files) {
    const abs = path.join(srcDir, rel);
    for (const spec of importsOf(readFileSync(abs, 'utf8'))) {
      const target = path.resolve(path.dirname(abs), spec);
      const from = roomOf(abs);
      const to = path.relative(srcDir, target).startsWith('..') ? '(outside src)' : roomOf(target);
      if (from !== to) edges.push({ file: `src/${rel}`, target: path.relative(repo, target), from, to });
    }
  }
  return edges;
}

describe('layers (docs/ARCHITECTURE.md)', () => {
  const floors = readFloors();
  const rooms = new Set(readdirSync(srcDir).filter((n) => !n.endsWith('.d.ts')));

  it('parses import forms, including multi-line and type-only ones, and skips comments', () => {
    const text = [
      "import { a } from '../x/a.js';",
      'import type {',
      '  B,',
      "} from '../y/b.js';",
      "export * from './c.js';",
      "import './side-effect.js';",
      "let n: import('../z/n.js').N;",
      "const m = await import('../w/m.js');",
      "// import { no } from '../commented.js';",
      "/* import { no } from '../blocked.js'; */",
      "import { pino } from 'pino';",
      "export const s = 'from ../not-an-import.js';",
    ].join('\n');
    expect(importsOf(text)).toEqual(['../x/a.js', '../y/b.js', './c.js', './side-effect.js', '../z/n.js', '../w/m.js']);
  });

  it('places every room of src/ on a floor, and names no room that is gone', () => {
    const missing = [...rooms].filter((r) => !floors.has(r));
    const stale = [...floors.keys()].filter((r) => !rooms.has(r));
    expect({ missing, stale }).toEqual({ missing: [], stale: [] });
  });

  it('has no import that runs up a floor or across to a peer room', () => {
    const bad = crossRoomImports()
      .filter((e) => {
        const from = floors.get(e.from);
        const to = floors.get(e.to);
        return from === undefined || to === undefined || to >= from;
      })
      .map((e) => `${e.file} (${e.from}, floor ${floors.get(e.from)}) imports ${e.target} (${e.to}, floor ${floors.get(e.to)})`);
    expect(bad).toEqual([]);
  });
});
