import { WebhookVerificationError } from './errors.js';

/**
 * Headers of a received webhook: a fetch Headers, or a plain object such as
 * Node's `req.headers` (any case; array values are joined with spaces).
 */
export type WebhookHeaders =
  | { get(name: string): string | null }
  | Record<string, string | string[] | undefined>;

/** A webhook's raw body, exactly as received (before any JSON parsing). */
export type WebhookBody = string | Uint8Array | ArrayBuffer;

/**
 * A signing secret: `whsec_<base64>` or bare base64 (as Standard Webhooks
 * writes them), or the key's bytes themselves. Herald signs with the
 * base64-decoded tail of a `whsec_` secret, or with a secret's own bytes:
 * for a secret without the prefix pass `new TextEncoder().encode(secret)`.
 */
export type WebhookSecret = string | Uint8Array;

export interface VerifyWebhookOptions {
  /** How far webhook-timestamp may be from now, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The current time in ms (tests). */
  now?: number;
}

const defaultToleranceSeconds = 5 * 60;
const prefix = 'whsec_';
const encoder = new TextEncoder();

/**
 * Verifies a webhook per Standard Webhooks (https://www.standardwebhooks.com/),
 * as Herald signs callbacks whose definition names a `secret_env`: the
 * `webhook-signature` header holds `v1,<base64 HMAC-SHA256 of
 * "<webhook-id>.<webhook-timestamp>.<body>">` (one or more, space-separated),
 * and webhook-timestamp must be within 5 minutes of now.
 *
 * Resolves to the body parsed as JSON (the body as a string when it is not
 * JSON); rejects with WebhookVerificationError. Uses WebCrypto: no dependency.
 */
export async function verifyWebhook(
  secret: WebhookSecret,
  headers: WebhookHeaders,
  body: WebhookBody,
  options: VerifyWebhookOptions = {},
): Promise<unknown> {
  const key = signingKey(secret);
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError('Missing required headers');
  if (!/^\d+$/.test(timestamp)) throw new WebhookVerificationError('Invalid Signature Headers');
  const ts = Number(timestamp);
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const tolerance = options.toleranceSeconds ?? defaultToleranceSeconds;
  if (now - ts > tolerance) throw new WebhookVerificationError('Message timestamp too old');
  if (ts - now > tolerance) throw new WebhookVerificationError('Message timestamp too new');

  const raw = bytesOf(body);
  const expected = await hmac(key, concat(encoder.encode(`${id}.${timestamp}.`), raw));
  let ok = false;
  for (const part of signatures.split(' ')) {
    const comma = part.indexOf(',');
    if (comma < 0 || part.slice(0, comma) !== 'v1') continue;
    let got: Uint8Array;
    try {
      got = fromBase64(part.slice(comma + 1));
    } catch {
      continue;
    }
    // Every candidate is compared in full, so the time taken says nothing about the key.
    if (timingSafeEqual(got, expected)) ok = true;
  }
  if (!ok) throw new WebhookVerificationError('No matching signature found');
  const text = new TextDecoder().decode(raw);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The webhook-signature value for a message, as Herald sends it (for
 * receivers' own tests): `v1,<base64>`.
 */
export async function signWebhook(
  secret: WebhookSecret,
  id: string,
  timestamp: Date | number,
  body: WebhookBody,
): Promise<string> {
  const seconds = timestamp instanceof Date ? Math.floor(timestamp.getTime() / 1000) : Math.floor(timestamp);
  const mac = await hmac(signingKey(secret), concat(encoder.encode(`${id}.${seconds}.`), bytesOf(body)));
  return `v1,${toBase64(mac)}`;
}

function signingKey(secret: WebhookSecret): Uint8Array {
  if (secret instanceof Uint8Array) {
    if (secret.length === 0) throw new TypeError('verifyWebhook: the secret is empty');
    return secret;
  }
  if (typeof secret !== 'string' || secret === '') throw new TypeError('verifyWebhook: the secret is empty');
  const b64 = secret.startsWith(prefix) ? secret.slice(prefix.length) : secret;
  let key: Uint8Array;
  try {
    key = fromBase64(b64);
  } catch {
    throw new TypeError('verifyWebhook: the secret is not base64 (pass a Uint8Array for a raw key)');
  }
  if (key.length === 0) throw new TypeError('verifyWebhook: the secret is empty');
  return key;
}

function header(h: WebhookHeaders, name: string): string | undefined {
  if (typeof (h as { get?: unknown }).get === 'function') {
    return (h as { get(name: string): string | null }).get(name) ?? undefined;
  }
  for (const [k, v] of Object.entries(h as Record<string, string | string[] | undefined>)) {
    if (k.toLowerCase() !== name) continue;
    if (Array.isArray(v)) return v.join(' ');
    return v;
  }
  return undefined;
}

function bytesOf(body: WebhookBody): Uint8Array {
  if (typeof body === 'string') return encoder.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new TypeError('verifyWebhook: the body must be the raw body: a string, Uint8Array or ArrayBuffer');
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function toBase64(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

type Subtle = {
  importKey(format: 'raw', key: Uint8Array, alg: { name: 'HMAC'; hash: 'SHA-256' }, extractable: false, usages: ['sign']): Promise<unknown>;
  sign(alg: 'HMAC', key: unknown, data: Uint8Array): Promise<ArrayBuffer>;
};

let subtle: Promise<Subtle> | undefined;

/** WebCrypto: the global one (browsers, Node 19+), else node:crypto's (Node 18). */
function getSubtle(): Promise<Subtle> {
  subtle ??= (async () => {
    const g = (globalThis as { crypto?: { subtle?: Subtle } }).crypto;
    if (g?.subtle) return g.subtle;
    // A variable specifier keeps bundlers for browsers from pulling node:crypto in.
    const name = 'node:crypto';
    const mod = (await import(/* webpackIgnore: true */ /* @vite-ignore */ name)) as { webcrypto?: { subtle?: Subtle } };
    if (!mod.webcrypto?.subtle) throw new Error('verifyWebhook: no WebCrypto in this runtime');
    return mod.webcrypto.subtle;
  })();
  return subtle;
}

async function hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const s = await getSubtle();
  const k = await s.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await s.sign('HMAC', k, data));
}
