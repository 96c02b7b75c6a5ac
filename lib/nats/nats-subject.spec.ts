import { subjectCovers, subjectProblem, subjectToken } from './nats-subject';

describe('NATS subjects', () => {
  it.each([
    ['dlq.>', 'dlq.>', true],
    ['>', 'dlq.>', true],
    ['*.>', 'app.dlq.>', true],
    ['app.*.>', 'app.dlq.>', true],
    ['dlq.*', 'dlq.>', false],
    ['dlq.orders', 'dlq.>', false],
    ['dlq', 'dlq.>', false],
    ['other.>', 'dlq.>', false],
    ['dlq.>', 'dlq.orders', true],
    ['dlq.>', 'dlq.*', true],
    ['dlq.orders', 'dlq.*', false],
    ['dlq.*', 'dlq.orders', true],
    ['dlq.>', 'dlq', false],
  ])('%s covers %s: %s', (pattern, filter, expected) => {
    expect(subjectCovers(pattern, filter)).toBe(expected);
  });

  it.each([
    ['dlq', undefined],
    ['app.dlq', undefined],
    ['', 'a non-empty NATS subject'],
    ['.dlq', expect.stringContaining('empty tokens')],
    ['dlq.', expect.stringContaining('empty tokens')],
    ['a\tb', expect.stringContaining('whitespace')],
    ['dlq.*', expect.stringContaining('wildcards')],
    ['a>b', expect.stringContaining('wildcards')],
  ])('subject prefix %j: %s', (subject, problem) => {
    expect(subjectProblem(subject)).toEqual(problem);
  });

  it('gives distinct tokens to names that differ only in escaped characters', () => {
    const names = ['a.b', 'a b', 'a%2Eb', 'a_b', 'a-b', 'a*b', 'a>b', '', '%'];
    const tokens = names.map(subjectToken);
    expect(new Set(tokens).size).toBe(names.length);
    for (const token of tokens) expect(subjectProblem(`dlq.${token}`)).toBeUndefined();
  });
});
