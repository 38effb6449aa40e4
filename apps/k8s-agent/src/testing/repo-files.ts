import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** The repository root, found from this file (apps/k8s-agent/src/testing). */
export const REPO_ROOT = resolve(__dirname, '../../../..');

/** One YAML document found in the repository, with where it came from for test names. */
export interface FoundDocument {
  /** `docs/examples/task-add.yaml#0` or `docs/kubernetes.md#3` (index of the document or fenced block). */
  readonly source: string;
  readonly value: unknown;
}

/** Parses every document of a YAML text; throws on a syntax error so a broken example fails its test. */
export function parseYamlDocuments(text: string, source: string): FoundDocument[] {
  return parseAllDocuments(text).flatMap((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${source}#${i}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    return value === null || value === undefined ? [] : [{ source: `${source}#${i}`, value }];
  });
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = join(dir, entry);
    return statSync(full).isDirectory() ? walk(full) : [full];
  });
}

const FENCE_RE = /```ya?ml\n([\s\S]*?)```/g;

/**
 * Every YAML document under `dir` (relative to the repo root): `.yaml`/`.yml` files and the
 * fenced ```yaml blocks of Markdown files, so an example in prose is checked like a file.
 */
export function yamlDocumentsUnder(dir: string): FoundDocument[] {
  return walk(join(REPO_ROOT, dir)).flatMap((file) => {
    const rel = relative(REPO_ROOT, file);
    const text = readFileSync(file, 'utf8');
    if (/\.ya?ml$/.test(file)) return parseYamlDocuments(text, rel);
    if (file.endsWith('.md')) {
      return [...text.matchAll(FENCE_RE)].flatMap((m, i) => parseYamlDocuments(m[1] ?? '', `${rel}[block ${i}]`));
    }
    return [];
  });
}

/** Reads a file relative to the repository root. */
export function readRepoFile(path: string): string {
  return readFileSync(join(REPO_ROOT, path), 'utf8');
}
