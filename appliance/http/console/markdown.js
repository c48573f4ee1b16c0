// A small Markdown renderer for agents' replies: headings, paragraphs, lists, quotes, fenced code,
// inline code, bold, italics and http(s) links. It builds DOM nodes, so no text is ever run as HTML.

import { h } from "./dom.js";

const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*|__[^_]+__)|(\*[^*\s][^*]*\*|_[^_\s][^_]*_)|(\[[^\]]+\]\([^)\s]+\))/;

function inline(text) {
  const nodes = [];
  while (text) {
    const match = INLINE.exec(text);
    if (!match) { nodes.push(text); break; }
    if (match.index) nodes.push(text.slice(0, match.index));
    const [token, code, strong, em, link] = match;
    if (code) nodes.push(h("code", {}, code.slice(1, -1)));
    else if (strong) nodes.push(h("strong", {}, inline(strong.slice(2, -2))));
    else if (em) nodes.push(h("em", {}, inline(em.slice(1, -1))));
    else if (link) {
      const [, label, href] = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(link);
      nodes.push(/^https?:\/\//i.test(href) ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, label) : label);
    }
    text = text.slice(match.index + token.length);
  }
  return nodes;
}

export function markdown(source) {
  const out = document.createDocumentFragment();
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let match;
    if (/^```/.test(line)) {
      const body = [];
      for (i += 1; i < lines.length && !/^```/.test(lines[i]); i += 1) body.push(lines[i]);
      i += 1;
      out.append(h("pre", {}, h("code", {}, body.join("\n"))));
    } else if ((match = /^(#{1,6})\s+(.*)$/.exec(line))) {
      out.append(h(`h${match[1].length}`, {}, inline(match[2])));
      i += 1;
    } else if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = h(ordered ? "ol" : "ul");
      for (; i < lines.length && /^\s*([-*+]|\d+[.)])\s+/.test(lines[i]); i += 1) {
        list.append(h("li", {}, inline(lines[i].replace(/^\s*([-*+]|\d+[.)])\s+/, ""))));
      }
      out.append(list);
    } else if (/^>\s?/.test(line)) {
      const quoted = [];
      for (; i < lines.length && /^>\s?/.test(lines[i]); i += 1) quoted.push(lines[i].replace(/^>\s?/, ""));
      out.append(h("blockquote", {}, markdown(quoted.join("\n"))));
    } else if (line.trim() === "") {
      i += 1;
    } else {
      const paragraph = [line];
      for (i += 1; i < lines.length && lines[i].trim() !== "" && !/^(```|#{1,6}\s|>|\s*([-*+]|\d+[.)])\s)/.test(lines[i]); i += 1) {
        paragraph.push(lines[i]);
      }
      out.append(h("p", {}, inline(paragraph.join(" "))));
    }
  }
  return out;
}
