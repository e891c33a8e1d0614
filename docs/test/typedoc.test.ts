import { describe, expect, it } from 'vitest';
import { KNOWN_UNEXPORTED, buildApiDocs, publishedPackages } from '../scripts/api-docs.js';
import { brokenLinks, markdownPages, relativeLinks } from '../scripts/markdown-links.js';

describe('API reference', () => {
  it('converts every published entry point with validation on and reports no warning or error', async () => {
    // Conversion and validation only: rendering HTML adds nothing that is checked.
    const result = await buildApiDocs({ out: false });
    const report = result.messages.map((m) => m.text).join('\n');
    expect(report).toBe('');
    // One module per `exports` entry, named by its import specifier (the `@module` tag of the entry file).
    const expected = publishedPackages().flatMap((p) => p.entryPoints.map((e) => e.name));
    expect([...result.modules].sort()).toEqual([...expected].sort());
  });

  it('checks notExported in every package, not only the root one TypeDoc checks by itself', async () => {
    const result = await buildApiDocs({ out: false, knownUnexported: [] });
    const unexported = result.messages.map((m) => /(\S+), defined in (\S+), is referenced by .* but not included/.exec(m.text)).filter((m) => m !== null);
    expect(unexported.map(([, name, file]) => `${file}:${name}`).sort()).toEqual([...KNOWN_UNEXPORTED].sort());
  });
});

describe('Markdown links', () => {
  it('finds the pages and their relative links', () => {
    const pages = markdownPages();
    expect(pages).toContain('README.md');
    expect(pages).toContain('docs/ARCHITECTURE.md');
    expect(pages).toContain('packages/core/README.md');
    const text = ['[a](docs/A.md) [b](https://x.org/y) [c](#here) `[d](no.md)`', '```', '[e](no.md)', '```', '[f]: ../up.md#part'].join('\n');
    expect(relativeLinks('docs/X.md', text).map((l) => [l.target, l.line])).toEqual([
      ['docs/A.md', 1],
      ['../up.md#part', 5],
    ]);
  });

  it('resolves every relative link of README.md, docs/*.md and packages/**/README.md to a repository file', () => {
    const broken = brokenLinks().map((l) => `${l.page}:${l.line}: ${l.target}`);
    expect(broken).toEqual([]);
  });
});
