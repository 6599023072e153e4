// tls-cert.ts — a self-signed API certificate for the HTTPS tests, made with openssl (the
// caller checks `missingTools(['openssl'])` first and skips with its reason).
import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * Writes `cert.pem` and `key.pem` (P-256, CN localhost, SAN 127.0.0.1 and localhost, valid
 * `days` days) into `dir` and returns their paths.
 */
export function makeSelfSignedCert(dir: string, days = 30): { cert: string; key: string } {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      String(days),
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}
