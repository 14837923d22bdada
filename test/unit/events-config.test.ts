// Config validation of the issue-5 keys: each mistake is one line naming its key path.
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { parseConfigText } from '../../main/engine/config/load.ts';

function problems(flow: Record<string, unknown>): string[] {
  const r = parseConfigText(YAML.stringify({ dataDir: '/tmp/x', integrations: [{ name: 'i', flows: [{ name: 'f', ...flow }] }] }), '/tmp/ferry.yaml');
  return r.ok ? [] : r.problems;
}

const folderOut = { type: 'folder', path: './out' };

describe('events config', () => {
  it('accepts the documented shapes', () => {
    expect(problems({ source: { type: 'webhook', port: 8080, verify: { scheme: 'github', secret: 'x'.repeat(20) } }, destination: folderOut, 'fifo-by': 'customer.id' })).toEqual([]);
    expect(problems({ source: { type: 'sync', port: 8080 }, destination: { type: 'http-steps', steps: [{ name: 'a', url: 'http://127.0.0.1:1/a' }] }, ordering: 'fifo' })).toEqual([]);
    expect(problems({ source: { type: 'amqp', url: 'amqp://u:p@127.0.0.1:5672', queue: 'q' }, destination: { type: 'amqp', url: 'amqp://u:p@127.0.0.1:5672', queue: 'out' } })).toEqual([]);
  });

  it('names what is wrong', () => {
    expect(problems({ source: { type: 'webhook', port: 8080, verify: { scheme: 'stripe' } }, destination: folderOut })).toEqual(['integrations[0].flows[0].source.verify.secret: required for scheme stripe']);
    expect(problems({ source: { type: 'webhook', verify: { scheme: 'none' } }, destination: folderOut })).toEqual(['integrations[0].flows[0].source.port: required (expected a port to listen on)']);
    expect(problems({ source: { type: 'webhook', mode: 'webhook-relay', verify: { scheme: 'none' } }, destination: folderOut })[0]).toMatch(/source\.relay: required for mode webhook-relay/);
    expect(problems({ source: { type: 'webhook', port: 1, verify: { scheme: 'none' } }, trigger: { schedule: '* * * * *' }, destination: folderOut })[0]).toMatch(/trigger: source type "webhook" receives events as they come/);
    expect(problems({ source: { type: 'amqp', url: 'http://x', queue: 'q' }, destination: folderOut })[0]).toMatch(/source\.url: expected an amqp:\/\//);
    expect(problems({ source: { type: 'sync', port: 1, request: { map: '' } }, destination: folderOut })[0]).toMatch(/source\.request\.map/);
    expect(problems({ source: { type: 'sync', port: 1, response: { map: '{ "a": ' } }, destination: folderOut })[0]).toMatch(/source\.response\.map: not a valid JSONata expression/);
    expect(problems({ source: { type: 'sync', port: 1 }, destination: { type: 'http-steps', steps: [{ name: 'a', url: 'http://127.0.0.1:1/', body: '$$$(' }] } })[0]).toMatch(/steps\[0\]\.body: not a valid JSONata/);
    expect(problems({ source: { type: 'sync', port: 1 }, destination: folderOut, ordering: 'lifo' })[0]).toMatch(/ordering: expected one of "none" \| "fifo"/);
    expect(problems({ source: { type: 'sync', port: 1 }, destination: { type: 'http-steps', steps: [] } })[0]).toMatch(/steps: expected at least one step/);
  });
});
