// Amazon SNS on the webhook receiver, against a local SNS stand-in (a test CA, the signing certificate and the
// SubscribeURL served over HTTPS on 127.0.0.1, messages signed as SNS signs them): the confirmation handshake
// for allow-listed topics only, good messages (SignatureVersion 1 and 2) queued once by MessageId, tampered
// ones, foreign certificate hosts, replays, unwrap, and an unsubscribe reported.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../main/engine/config/load.ts';
import { Engine } from '../../main/engine/engine.ts';
import { silentLogger } from '../../main/engine/logger.ts';
import { writeConfig } from '../helpers/cli.ts';
import { freePort } from '../helpers/net.ts';
import { postSns, startSnsHost, testCa, type SnsHost } from '../helpers/sns.ts';
import { proxyAvailable, startTinyproxy, TINYPROXY } from '../helpers/proxies.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';

const TOPIC = 'arn:aws:sns:eu-central-1:123456789012:orders';
const OTHER = 'arn:aws:sns:eu-central-1:999999999999:someone-else';

let sns: SnsHost;
let evil: SnsHost; // a second signer with its own certificate, on another port: not an allowed host
let engine: Engine;
let url: string;
let out: string;

beforeAll(async () => {
  const ca = testCa();
  [sns, evil] = await Promise.all([startSnsHost(ca), startSnsHost(ca)]);
  const dir = tempDir();
  out = path.join(dir, 'out');
  const port = await freePort();
  url = `http://127.0.0.1:${port}/hooks/sns`;
  const file = writeConfig(dir, {
    dataDir: './data',
    admin: { port: 0 },
    minFreeDiskMb: 0,
    network: { tls: { ca: [sns.caFile] } }, // the stand-in's HTTPS is trusted the way a site trusts a private CA
    integrations: [{
      name: 'aws',
      flows: [
        { name: 'sns', source: { type: 'webhook', port, verify: { scheme: 'sns', topics: [TOPIC], hostPattern: sns.hostPattern } }, destination: { type: 'folder', path: './out' } },
        { name: 'sns-unwrapped', source: { type: 'webhook', port, verify: { scheme: 'sns', topics: [TOPIC], unwrap: true, hostPattern: sns.hostPattern } }, destination: { type: 'folder', path: './out-unwrapped' } },
      ],
    }],
  });
  engine = Engine.open(loadConfig(file), { log: silentLogger, stopGraceMs: 2000 });
  await engine.start();
});
afterAll(async () => {
  await engine?.stop();
  await Promise.all([sns?.close(), evil?.close()]);
});

const items = (flow: string) => engine.queue.list({ flow });

describe('webhook source, verify: { scheme: sns }', () => {
  it('confirms the subscription of an allow-listed topic by fetching its SubscribeURL; refuses and reports any other', async () => {
    const good = sns.message('SubscriptionConfirmation', { TopicArn: TOPIC, Message: 'You have chosen to subscribe…' });
    expect(await postSns(url, good)).toEqual({ status: 200, body: { status: 'confirmed', topic: TOPIC } });
    expect(sns.confirmed).toContain(good.Token);

    const foreign = sns.message('SubscriptionConfirmation', { TopicArn: OTHER, Message: 'subscribe?' });
    const refused = await postSns(url, foreign);
    expect(refused).toEqual({ status: 403, body: { error: `subscription to topic ${OTHER} refused: not in verify.topics` } });
    expect(sns.confirmed).not.toContain(foreign.Token);
    expect(engine.flow('sns').facts.lastError).toBe(`SNS: a subscription to topic ${OTHER} was refused (not in verify.topics); add it there to accept that topic's messages`);

    // a correctly signed confirmation whose SubscribeURL points elsewhere is not followed
    const redirected = sns.message('SubscriptionConfirmation', { TopicArn: TOPIC, Message: 'subscribe' });
    const tampered = { ...redirected, SubscribeURL: `${evil.origin}/?Action=ConfirmSubscription&Token=${redirected.Token}` };
    expect((await postSns(url, tampered)).status).toBe(401); // part of the signed text: the signature breaks
    expect(evil.confirmed).toEqual([]);
    expect(items('sns')).toEqual([]); // confirmations are never queued as events
  });

  it('queues a good Notification (SignatureVersion 1 and 2) once, keyed by its MessageId; the certificate is fetched once and cached', async () => {
    const fetchesBefore = sns.certFetches;
    const v2 = sns.message('Notification', { TopicArn: TOPIC, Subject: 'Order', Message: JSON.stringify({ order: 1 }) });
    const v1 = sns.message('Notification', { TopicArn: TOPIC, Message: 'plain text, no subject' }, { version: '1' });
    expect(await postSns(url, v2)).toEqual({ status: 202, body: { status: 'queued', id: v2.MessageId } });
    expect(await postSns(url, v1)).toEqual({ status: 202, body: { status: 'queued', id: v1.MessageId } });
    // SNS retrying the same message: recognised, not queued again
    expect(await postSns(url, v2)).toEqual({ status: 200, body: { status: 'duplicate', id: v2.MessageId } });
    await waitFor(() => engine.queue.count({ flow: 'sns', state: 'delivered' }) === 2, 'both delivered');
    expect(listFiles(out).length).toBe(2);
    expect(JSON.parse(fs.readFileSync(path.join(out, `${v2.MessageId}.json`), 'utf8'))).toEqual(v2); // the envelope as SNS sent it
    const attrs = JSON.parse(items('sns').find((i) => i.name === `${v2.MessageId}.json`)!.attrs);
    expect(attrs).toMatchObject({ webhookId: v2.MessageId, eventType: 'Notification', snsTopicArn: TOPIC, snsSubject: 'Order', snsTimestamp: v2.Timestamp });
    expect(sns.certFetches).toBe(1); // fetched for the first confirmation, cached since
    expect(fetchesBefore).toBe(1);
  });

  it('refuses a tampered message, a foreign key, a certificate from a host that is not SNS, a replay of an old one, and a topic not listed', async () => {
    const before = items('sns').length;
    const good = sns.message('Notification', { TopicArn: TOPIC, Message: '{"amount":10}' });
    expect(await postSns(url, { ...good, Message: '{"amount":1000}' })).toEqual({ status: 401, body: { error: 'verification failed: signature does not match' } });

    const forged = sns.message('Notification', { TopicArn: TOPIC, Message: 'forged' }, { signWith: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey });
    expect((await postSns(url, forged)).body).toEqual({ error: 'verification failed: signature does not match' });

    const evilFetches = evil.certFetches;
    const fromEvil = evil.message('Notification', { TopicArn: TOPIC, Message: 'evil' });
    const r = await postSns(url, fromEvil);
    expect(r.status).toBe(401);
    expect(r.body.error).toMatch(/^verification failed: SigningCertURL host 127\.0\.0\.1:\d+ is not an SNS host/);
    expect(evil.certFetches).toBe(evilFetches); // not even asked
    const plainHttp = sns.message('Notification', { TopicArn: TOPIC, Message: 'x' }, { certUrl: sns.origin.replace('https:', 'http:') + '/cert.pem' });
    expect((await postSns(url, plainHttp)).body.error).toMatch(/SigningCertURL http:\/\/127\.0\.0\.1:\d+ is not https/);

    const old = sns.message('Notification', { TopicArn: TOPIC, Message: 'old', Timestamp: new Date(Date.now() - 3 * 3600_000).toISOString() });
    expect((await postSns(url, old)).body.error).toMatch(/Timestamp .* is 180 min from now \(a replay, or this machine's clock is wrong\)/);

    const foreignTopic = sns.message('Notification', { TopicArn: OTHER, Message: 'not ours' });
    expect(await postSns(url, foreignTopic)).toEqual({ status: 403, body: { error: `topic ${OTHER} is not in verify.topics` } });

    expect((await postSns(url, 'hello', { 'x-amz-sns-rawdelivery': 'true' })).body.error).toMatch(/raw message delivery is on/);
    expect(items('sns').length).toBe(before);
  });

  it('unwrap: true queues the inner Message (JSON when it parses, else text)', async () => {
    const unwrapped = url.replace('/hooks/sns', '/hooks/sns-unwrapped');
    const json = sns.message('Notification', { TopicArn: TOPIC, Message: '{"orderId":"A-17","total":99.5}' });
    const text = sns.message('Notification', { TopicArn: TOPIC, Message: 'just words' });
    expect((await postSns(unwrapped, json)).status).toBe(202);
    expect((await postSns(unwrapped, text)).status).toBe(202);
    const dest = path.join(path.dirname(out), 'out-unwrapped');
    await waitFor(() => engine.queue.count({ flow: 'sns-unwrapped', state: 'delivered' }) === 2, 'both delivered');
    expect(fs.readFileSync(path.join(dest, `${json.MessageId}.json`), 'utf8')).toBe('{"orderId":"A-17","total":99.5}');
    expect(fs.readFileSync(path.join(dest, `${text.MessageId}.txt`), 'utf8')).toBe('just words');
  });

  it('an UnsubscribeConfirmation is answered, logged and shown as the flow\'s problem', async () => {
    const m = sns.message('UnsubscribeConfirmation', { TopicArn: TOPIC, Message: 'You have chosen to deactivate…' });
    expect(await postSns(url, m)).toEqual({ status: 200, body: { status: 'noted' } });
    expect(engine.flow('sns').facts.lastError).toBe(`SNS: unsubscribed from topic ${TOPIC}: no more messages will arrive from it (subscribe the endpoint again in AWS to resume)`);
    const events = engine.queue.events(0, 1000).filter((e) => e.type === 'problem' && e.flow === 'sns').map((e) => JSON.parse(e.data!).message);
    expect(events.some((msg: string) => msg.startsWith(`SNS: unsubscribed from topic ${TOPIC}`))).toBe(true);
  });
});

describe.skipIf(!proxyAvailable(TINYPROXY))('sns through the network setting', () => {
  it('the certificate and the SubscribeURL are fetched through network.proxy and trusted by network.tls only', async () => {
    const proxy = await startTinyproxy();
    const dir = tempDir();
    const port = await freePort();
    const hook = `http://127.0.0.1:${port}/hooks/via-proxy`;
    const flow = { name: 'via-proxy', source: { type: 'webhook', port, verify: { scheme: 'sns', topics: [TOPIC], hostPattern: sns.hostPattern } }, destination: { type: 'folder', path: './out' } };
    // loopback goes direct unless "<-loopback>" says otherwise: the stand-in listens on 127.0.0.1
    const proxied = Engine.open(loadConfig(writeConfig(dir, { dataDir: './data', minFreeDiskMb: 0, network: { proxy: { url: proxy.url, noProxy: ['<-loopback>'] }, tls: { ca: [sns.caFile], systemCa: false } }, integrations: [{ name: 'aws', flows: [flow] }] })), { log: silentLogger, stopGraceMs: 2000 });
    await proxied.start();
    try {
      const confirmation = sns.message('SubscriptionConfirmation', { TopicArn: TOPIC, Message: 'subscribe' });
      expect(await postSns(hook, confirmation)).toEqual({ status: 200, body: { status: 'confirmed', topic: TOPIC } });
      expect(sns.confirmed).toContain(confirmation.Token);
      expect(proxy.tunnels()).toBeGreaterThanOrEqual(1);
      expect(proxy.log()).toContain(`127.0.0.1:${new URL(sns.origin).port}`);
    } finally {
      await proxied.stop();
      await proxy.stop();
    }

    // without the CA in the network setting the stand-in's certificate is not trusted: SNS is asked to retry (503)
    const untrusted = Engine.open(loadConfig(writeConfig(tempDir(), { dataDir: './data', minFreeDiskMb: 0, network: { tls: { systemCa: false } }, integrations: [{ name: 'aws', flows: [flow] }] })), { log: silentLogger, stopGraceMs: 2000 });
    await untrusted.start();
    try {
      const r = await postSns(hook, sns.message('Notification', { TopicArn: TOPIC, Message: 'x' }));
      expect(r.status).toBe(503);
      expect(r.body.error).toMatch(/^verification failed: cannot check the signature now: fetching the signing certificate https:\/\/127\.0\.0\.1:\d+\/\S+ failed: certificate of 127\.0\.0\.1 is signed by 'Ferry Test CA', which is not trusted/);
    } finally {
      await untrusted.stop();
    }
  });
});

describe('sns config', () => {
  it('scheme sns needs topics, not a secret; the host pattern defaults to AWS\'s', async () => {
    const { webhookSourceSchema } = await import('../../connectors/webhook/schema.ts');
    const issues = webhookSourceSchema.safeParse({ port: 8080, verify: { scheme: 'sns' } }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues).toEqual(['verify.topics: required for scheme sns (the topic ARNs to accept)']);
    expect(webhookSourceSchema.safeParse({ port: 8080, verify: { scheme: 'sns', topics: ['arn:aws:sns:us-east-1:123:x'] } }).error?.issues[0].message).toMatch(/expected a topic ARN/);
    const { AWS_SNS_HOSTS } = await import('../../connectors/webhook/sns.ts');
    const aws = new RegExp(AWS_SNS_HOSTS);
    expect(['sns.eu-central-1.amazonaws.com', 'sns.cn-north-1.amazonaws.com.cn'].every((h) => aws.test(h))).toBe(true);
    expect(['sns.eu-central-1.amazonaws.com.evil.example', 'evil.example', 'sns.amazonaws.com:8443', 'x.sns.us-east-1.amazonaws.com'].some((h) => aws.test(h))).toBe(false);
  });
});
