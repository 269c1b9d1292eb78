// The release-notes reader of the admin page: structure comes through, nothing executable does.
import { describe, expect, it } from 'vitest';
import { parseInline, parseMarkdown, safeHref } from '../../web/src/markdown.ts';

describe('release notes markdown', () => {
  it('reads headings, lists, paragraphs, code and emphasis', () => {
    const blocks = parseMarkdown(
      '# Demo 1.1.0\n\n- **Faster** page\n- fixes `bug`\n\nPlain *text*\nwrapped.\n\n```\nx < y\n```\n',
    );
    expect(blocks).toEqual([
      { t: 'h', level: 1, c: [{ t: 'text', v: 'Demo 1.1.0' }] },
      {
        t: 'ul',
        items: [
          [
            { t: 'strong', c: [{ t: 'text', v: 'Faster' }] },
            { t: 'text', v: ' page' },
          ],
          [
            { t: 'text', v: 'fixes ' },
            { t: 'code', v: 'bug' },
          ],
        ],
      },
      {
        t: 'p',
        c: [
          { t: 'text', v: 'Plain ' },
          { t: 'em', c: [{ t: 'text', v: 'text' }] },
          { t: 'text', v: ' wrapped.' },
        ],
      },
      { t: 'pre', v: 'x < y' },
    ]);
  });

  it('keeps raw HTML as text', () => {
    expect(parseMarkdown('<script>alert(1)</script> <img src=x onerror=alert(1)>')).toEqual([
      { t: 'p', c: [{ t: 'text', v: '<script>alert(1)</script> <img src=x onerror=alert(1)>' }] },
    ]);
  });

  it('links only to http(s); javascript:, data: and relative links become plain text', () => {
    expect(parseInline('[docs](https://example.com/a_(b))')).toEqual([
      { t: 'link', href: 'https://example.com/a_(b)', c: [{ t: 'text', v: 'docs' }] },
    ]);
    expect(parseInline('[x](javascript:alert(1))')).toEqual([{ t: 'text', v: 'x' }]);
    expect(parseInline('[y](data:text/html,hi)')).toEqual([{ t: 'text', v: 'y' }]);
    expect(safeHref('/api/v1/update/apply')).toBeNull();
    expect(safeHref('https://ok.example/path')).toBe('https://ok.example/path');
  });

  it('turns images into their alt text so the page fetches nothing', () => {
    expect(parseInline('see ![diagram](https://cdn.example/x.png) here')).toEqual([
      { t: 'text', v: 'see diagram here' },
    ]);
  });

  it('ordered lists, quotes and rules', () => {
    expect(parseMarkdown('1. one\n2. two\n\n> careful\n\n---')).toEqual([
      { t: 'ol', items: [[{ t: 'text', v: 'one' }], [{ t: 'text', v: 'two' }]] },
      { t: 'quote', c: [{ t: 'text', v: 'careful' }] },
      { t: 'hr' },
    ]);
  });
});
