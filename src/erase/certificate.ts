// Erase certificates: the JSON a drive's erase is proven by, signed with the station's ed25519
// key over its canonical form (keys sorted, no spaces, the signature's value left out).
import { sign, verify } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { fingerprintOf, publicKeyOf, type StationKey } from './keys.js';

export const CERT_FORMAT = 'clonestation-erase-certificate/1';

/** JSON with every object's keys sorted, no whitespace: the bytes that are signed. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) return 'null';
    return JSON.stringify(v) ?? 'null';
  }
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

export interface Signature {
  algorithm: 'ed25519';
  /** the signer's public key, SPKI DER base64 (also in the signed part: station.publicKey) */
  publicKey: string;
  /** sha256 of it */
  fingerprint: string;
  /** over canonicalJson(the certificate without `signature`), base64 */
  value: string;
}

export type Certificate = Record<string, unknown> & { format: string; station: { publicKey: string; fingerprint: string }; signature?: Signature };

/** Signs a certificate body (its `station` gets the key's public half first). */
export function signCertificate(body: Record<string, unknown>, key: StationKey): Certificate {
  const station = { ...((body.station as Record<string, unknown>) ?? {}), publicKey: key.publicKey, fingerprint: key.fingerprint };
  const unsigned = { ...body, format: CERT_FORMAT, station };
  const value = sign(null, Buffer.from(canonicalJson(unsigned)), key.privateKey).toString('base64');
  return { ...unsigned, signature: { algorithm: 'ed25519', publicKey: key.publicKey, fingerprint: key.fingerprint, value } };
}

export interface CheckResult {
  ok: boolean;
  reason?: string;
  fingerprint?: string;
}

/** Whether a certificate is unchanged since it was signed, by the key it names. */
export function checkCertificate(cert: unknown): CheckResult {
  if (!cert || typeof cert !== 'object' || Array.isArray(cert)) return { ok: false, reason: 'not a JSON object' };
  const c = cert as Partial<Certificate>;
  if (c.format !== CERT_FORMAT) return { ok: false, reason: `format is ${JSON.stringify(c.format)?.slice(0, 60)}, not ${CERT_FORMAT}` };
  const s = c.signature;
  if (!s || s.algorithm !== 'ed25519' || typeof s.value !== 'string' || typeof s.publicKey !== 'string') return { ok: false, reason: 'no ed25519 signature in it' };
  if (c.station?.publicKey !== s.publicKey) return { ok: false, reason: 'the signature names another key than the certificate' };
  let ok = false;
  try {
    const { signature: _drop, ...unsigned } = c;
    void _drop;
    ok = verify(null, Buffer.from(canonicalJson(unsigned)), publicKeyOf(s.publicKey), Buffer.from(s.value, 'base64'));
  } catch (e) {
    return { ok: false, reason: `the signature cannot be checked: ${(e as Error).message}` };
  }
  const fingerprint = fingerprintOf(s.publicKey);
  if (!ok) return { ok: false, reason: 'the signature does not match: the certificate was changed after it was signed', fingerprint };
  if (s.fingerprint !== fingerprint || c.station.fingerprint !== fingerprint) return { ok: false, reason: 'the fingerprint does not belong to the key', fingerprint };
  return { ok: true, fingerprint };
}

/** Far more than any certificate (a few KiB, plus its errors' list): a larger file is not one. */
const MAX_CERTIFICATE_BYTES = 16 << 20;

export function readCertificate(path: string): unknown {
  // untrusted: a FIFO would hang the read, a huge file exhaust memory
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new UsageError(`certificate ${path} does not exist: give the path of a certificate's JSON file`, 'NOT_FOUND', { path });
  if (!st.isFile()) throw new UsageError(`certificate ${path} is not a regular file: give the path of a certificate's JSON file`, 'BAD_PATH', { path });
  if (st.size > MAX_CERTIFICATE_BYTES) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read certificate ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): check its permissions`, 'NOT_FOUND', { path });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
