// The station's ed25519 signing key: one PEM file, made on first use (0600) in the station's
// state folder ($XDG_STATE_HOME or ~/.local/state/clonestation), or where $CLONESTATION_KEY says.
import { createPrivateKey, createPublicKey, generateKeyPairSync, createHash, type KeyObject } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { IoError } from '../errors.js';

export function stationKeyPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CLONESTATION_KEY) return env.CLONESTATION_KEY;
  const state = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(state, 'clonestation', 'erase-signing-key.pem');
}

export interface StationKey {
  path: string;
  privateKey: KeyObject;
  /** SPKI DER, base64 */
  publicKey: string;
  /** sha256 of the SPKI DER, hex */
  fingerprint: string;
}

export function publicKeyOf(spkiBase64: string): KeyObject {
  return createPublicKey({ key: Buffer.from(spkiBase64, 'base64'), format: 'der', type: 'spki' });
}

export function fingerprintOf(spkiBase64: string): string {
  return createHash('sha256').update(Buffer.from(spkiBase64, 'base64')).digest('hex');
}

/** The station's key, made (0600, its folder 0700) when there is none yet. */
export function loadStationKey(path = stationKeyPath()): StationKey {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new IoError('KEY_UNREADABLE', `cannot read the station's signing key ${path}: ${(e as Error).message}`, { path });
    const { privateKey } = generateKeyPairSync('ed25519');
    pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // written whole under a name of its own, then linked to its name (which fails if a key
      // is there): two stations starting at once neither overwrite each other's key nor read
      // one half written
      const tmp = `${path}.${process.pid}.${threadId}.tmp`;
      writeFileSync(tmp, pem, { mode: 0o600, flag: 'wx' });
      try {
        chmodSync(tmp, 0o600);
        linkSync(tmp, path);
      } finally {
        rmSync(tmp, { force: true });
      }
    } catch (w) {
      if ((w as NodeJS.ErrnoException).code === 'EEXIST') return loadStationKey(path);
      throw new IoError('KEY_UNWRITABLE', `cannot make the station's signing key ${path}: ${(w as Error).message} (set CLONESTATION_KEY to a writable path)`, { path });
    }
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new IoError('KEY_UNREADABLE', `${path} holds no private key: move it away (a new key is made) or set CLONESTATION_KEY`, { path });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new IoError('KEY_UNREADABLE', `${path} is a ${privateKey.asymmetricKeyType} key, not ed25519: move it away or set CLONESTATION_KEY`, { path });
  const publicKey = createPublicKey(privateKey).export({ type: 'spki', format: 'der' }).toString('base64');
  return { path, privateKey, publicKey, fingerprint: fingerprintOf(publicKey) };
}
