// The agent's settings carry credentials in two places (LOOPSCOPE_TOKEN, and a token or
// user:password inside LOOPSCOPE_DASHBOARD's URL); every way of showing them must hide them.
import { describe, expect, it } from 'vitest';
import { redactText, redactUrl, secretValues } from '../../shared/redact.js';

describe('redactUrl', () => {
  it('hides userinfo and credential-like query parameters, keeps the rest', () => {
    expect(redactUrl('ws://agent:s3cr3t@127.0.0.1:7777/?token=abc&app=x')).toBe('ws://***:***@127.0.0.1:7777/?token=***&app=x');
    expect(redactUrl('wss://dash.example/ingest?access_token=a1&api_key=b2&sig=c3')).toBe('wss://dash.example/ingest?access_token=***&api_key=***&sig=***');
    expect(redactUrl('ws://127.0.0.1:7777')).toBe('ws://127.0.0.1:7777/');
  });

  it('hides the same parts of an address that does not parse', () => {
    const out = redactUrl('ws://user:pw@[oops/?token=SECRET&x=1');
    expect(out).not.toContain('pw');
    expect(out).not.toContain('SECRET');
    expect(out).toContain('x=1');
  });
});

describe('secretValues and redactText', () => {
  it('finds the token and the URL secrets in every spelling and removes them from free text', () => {
    const secrets = secretValues({ dashboard: 'ws://u:p%40ss@h:1/?token=t%2Bk&app=a', token: 'TOKEN-1' });
    expect(secrets).toEqual(expect.arrayContaining(['TOKEN-1', 'p%40ss', 'p@ss', 't+k', 't%2Bk']));
    const text = 'connect failed for TOKEN-1 with p@ss and t+k (url ws://h:1/?token=t%2Bk)';
    const out = redactText(text, secrets);
    for (const s of secrets) expect(out).not.toContain(s);
    expect(out).toContain('connect failed for *** with *** and ***');
  });

  it('leaves a text without secrets as it was', () => {
    expect(redactText('dashboard unreachable (ECONNREFUSED); holding up to 10000 messages', secretValues({}))).toBe(
      'dashboard unreachable (ECONNREFUSED); holding up to 10000 messages',
    );
  });
});
