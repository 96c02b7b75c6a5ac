import { createHash } from 'node:crypto';

/** Characters a subject token keeps as they are; every other one is percent-encoded. */
const PLAIN = /^[A-Za-z0-9_-]$/;
/** Longest token kept whole; a longer one is cut and followed by a hash of the name. */
const MAX_TOKEN = 200;

/**
 * The subject token of a policy name, so that any name gives a valid NATS subject.
 *
 * ASCII letters, digits, `_` and `-` are kept; every other character (`.`, spaces, `*`, `>`,
 * `%`, non-ASCII, …) is written as `%XX` per UTF-8 byte, with upper-case hex:
 * `Payments.charge` → `Payments%2Echarge`, `card gateway` → `card%20gateway`. The mapping is
 * deterministic and one-to-one (decode it with `decodeURIComponent`). The empty name maps to
 * `%`, which no other name produces. A token longer than 200 characters is cut to 200 and
 * followed by `~` and the first 16 hex digits of the name's SHA-256.
 * @internal
 */
export function subjectToken(policy: string): string {
  if (policy.length === 0) return '%';
  let token = '';
  for (const char of policy) {
    if (PLAIN.test(char)) {
      token += char;
      continue;
    }
    for (const byte of Buffer.from(char, 'utf8')) {
      token += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  if (token.length <= MAX_TOKEN) return token;
  const hash = createHash('sha256').update(policy, 'utf8').digest('hex').slice(0, 16);
  return `${token.slice(0, MAX_TOKEN)}~${hash}`;
}

/**
 * Why `subject` cannot be the literal prefix of a subject (tokens separated by `.`, none empty,
 * no whitespace, no wildcard), or undefined when it can.
 * @internal
 */
export function subjectProblem(subject: string): string | undefined {
  if (subject.length === 0) return 'a non-empty NATS subject';
  for (const token of subject.split('.')) {
    if (token.length === 0)
      return 'a NATS subject without empty tokens (no leading, trailing or double ".")';
    if (/\s/.test(token)) return 'a NATS subject without whitespace';
    if (token === '*' || token === '>' || /[*>]/.test(token)) {
      return 'a NATS subject without the wildcards "*" and ">"';
    }
  }
  return undefined;
}

/** True when the subject filter `pattern` (with `*` and `>`) matches every subject `filter` does. @internal */
export function subjectCovers(pattern: string, filter: string): boolean {
  const p = pattern.split('.');
  const f = filter.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return i < f.length;
    if (i >= f.length) return false;
    if (f[i] === '>') return false; // the filter matches more tokens than `*` or a literal can
    if (p[i] !== '*' && p[i] !== f[i]) return false;
  }
  return p.length === f.length;
}
