/**
 * The relative links of the repository's Markdown pages (README.md,
 * docs/*.md, packages/**\/README.md) and whether each resolves to a file or
 * folder of the repository. External URLs are not checked (no network).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from './api-docs.js';

/** A relative link of a Markdown page. */
export interface MarkdownLink {
  /** The page, relative to the repository root. */
  readonly page: string;
  /** 1-based line of the link. */
  readonly line: number;
  /** The link target as written, anchor included. */
  readonly target: string;
}

/** The Markdown pages whose links are checked, relative to the repository root. */
export function markdownPages(root: string = ROOT): string[] {
  const pages = ['README.md'];
  for (const name of readdirSync(join(root, 'docs'))) if (name.endsWith('.md')) pages.push(`docs/${name}`);
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name === 'README.md') pages.push(path);
    }
  };
  walk('packages');
  return pages.filter((page) => existsSync(join(root, page))).sort();
}

/** Inline links `[text](target)` and reference definitions `[label]: target`, outside code blocks and code spans. */
export function relativeLinks(page: string, text: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  let fence: string | undefined;
  text.split('\n').forEach((raw, index) => {
    const opening = /^\s*(```+|~~~+)/.exec(raw);
    if (opening !== null) {
      if (fence === undefined) fence = opening[1]![0]!;
      else if (opening[1]![0] === fence) fence = undefined;
      return;
    }
    if (fence !== undefined) return;
    const line = raw.replace(/`[^`]*`/g, '');
    const targets = [
      ...[...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
      ...[...line.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/g)].map((m) => m[1]!),
    ];
    for (const target of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue; // a URL, mailto:, or an anchor in the page
      links.push({ page, line: index + 1, target });
    }
  });
  return links;
}

/** Every relative link of {@link markdownPages} that names no file or folder of the repository. */
export function brokenLinks(root: string = ROOT): MarkdownLink[] {
  const broken: MarkdownLink[] = [];
  for (const page of markdownPages(root)) {
    for (const link of relativeLinks(page, readFileSync(join(root, page), 'utf8'))) {
      const path = decodeURIComponent(link.target.replace(/[#?].*$/, ''));
      const target = path.startsWith('/') ? join(root, path) : resolve(root, dirname(page), path);
      const inside = !relative(root, target).startsWith('..');
      if (!inside || !existsSync(target) || (path.endsWith('/') && !statSync(target).isDirectory())) broken.push(link);
    }
  }
  return broken;
}
