// A self-signed certificate for 127.0.0.1 (openssl CLI). Needed when a token is set and the client
// is kubectl: client-go does not send bearer tokens over plain HTTP.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsMaterial { cert: string; key: string }

export function generateSelfSignedCert(host = '127.0.0.1'): TlsMaterial {
  const dir = mkdtempSync(join(tmpdir(), 'flowlens-tls-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const san = /^\d+\.\d+\.\d+\.\d+$/.test(host) ? `IP:${host}` : `DNS:${host}`;
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '365', '-subj', `/CN=${host}`, '-addext', `subjectAltName=${san}`,
      '-addext', 'basicConstraints=critical,CA:TRUE'], { stdio: 'pipe' });
    return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
