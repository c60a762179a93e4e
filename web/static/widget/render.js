// Safe rendering of text written by the bot, an agent or the customer.
//
// Nothing here ever assigns markup: text goes into text nodes, and only http(s) links whose
// host is on the embedding page's allow-list become <a> elements (built with the DOM API, the
// link text set through textContent). Everything else, including javascript: and data: URLs,
// lookalike hosts and "user@host" tricks, stays plain text.

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING_PUNCTUATION = /[.,;:!?)\]}'"]+$/;

/** Normalise an allow-list: lower-case host names; "*.example.com" or ".example.com" also
 *  allows every sub-domain of example.com. */
export function normaliseAllowList(hosts) {
  const list = Array.isArray(hosts) ? hosts : String(hosts || "").split(",");
  return list.map((h) => String(h).trim().toLowerCase()).filter(Boolean);
}

export function hostAllowed(hostname, allowList) {
  const host = String(hostname || "").toLowerCase().replace(/\.$/, "");
  if (!host) return false;
  return allowList.some((entry) => {
    if (entry.startsWith("*.") || entry.startsWith(".")) {
      const base = entry.replace(/^\*?\./, "");
      return host === base || host.endsWith(`.${base}`);
    }
    return host === entry;
  });
}

/** The URL to link to, or null when `candidate` must stay text. */
export function safeLinkTarget(candidate, allowList) {
  let url;
  try {
    url = new URL(candidate);
  } catch {
    return null;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return null;
  if (url.username || url.password) return null;
  if (!hostAllowed(url.hostname, allowList)) return null;
  return url.href;
}

/** Append `text` to `parent` as text nodes, with allow-listed links as anchors. */
export function appendSafeText(parent, text, allowList) {
  const source = String(text ?? "");
  let last = 0;
  for (const match of source.matchAll(URL_PATTERN)) {
    let raw = match[0];
    const trailing = raw.match(TRAILING_PUNCTUATION);
    if (trailing) raw = raw.slice(0, raw.length - trailing[0].length);
    const start = match.index;
    const href = safeLinkTarget(raw, allowList);
    if (!href) continue;
    if (start > last) parent.append(document.createTextNode(source.slice(last, start)));
    const link = document.createElement("a");
    link.href = href;
    link.textContent = raw;
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow";
    parent.append(link);
    last = start + raw.length;
  }
  if (last < source.length) parent.append(document.createTextNode(source.slice(last)));
  return parent;
}
