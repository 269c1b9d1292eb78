// Renders parsed release notes as Preact elements: text is always text, never HTML.
import type { Block, Inline } from '../markdown.ts';
import { parseMarkdown } from '../markdown.ts';

function renderInline(nodes: Inline[]) {
  return nodes.map((n, i) => {
    switch (n.t) {
      case 'text':
        return n.v;
      case 'code':
        return <code key={i}>{n.v}</code>;
      case 'strong':
        return <strong key={i}>{renderInline(n.c)}</strong>;
      case 'em':
        return <em key={i}>{renderInline(n.c)}</em>;
      case 'link':
        return (
          <a key={i} href={n.href} rel="noopener noreferrer nofollow" target="_blank">
            {renderInline(n.c)}
          </a>
        );
      default:
        return null;
    }
  });
}

function renderBlock(b: Block, i: number) {
  switch (b.t) {
    case 'h': {
      // notes sit under the release's own heading, so their headings start one level lower
      const Tag = (['h3', 'h4', 'h5', 'h6'] as const)[b.level - 1] ?? 'h6';
      return <Tag key={i}>{renderInline(b.c)}</Tag>;
    }
    case 'p':
      return <p key={i}>{renderInline(b.c)}</p>;
    case 'ul':
      return (
        <ul key={i}>
          {b.items.map((it, j) => (
            <li key={j}>{renderInline(it)}</li>
          ))}
        </ul>
      );
    case 'ol':
      return (
        <ol key={i}>
          {b.items.map((it, j) => (
            <li key={j}>{renderInline(it)}</li>
          ))}
        </ol>
      );
    case 'pre':
      return (
        <pre key={i}>
          <code>{b.v}</code>
        </pre>
      );
    case 'quote':
      return <blockquote key={i}>{renderInline(b.c)}</blockquote>;
    case 'hr':
      return <hr key={i} />;
  }
}

export function MarkdownView(props: { source: string }) {
  return <div class="notes">{parseMarkdown(props.source).map(renderBlock)}</div>;
}
