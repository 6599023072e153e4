// ui-route.ts — the read-only status page at GET /ui: four static files from the package's
// ui/ folder (index.html, status.js, status.css, favicon.svg), read once at start and served
// with a strict Content-Security-Policy. The files hold no data and need no token; the
// page's script logs in with server.auth and reads through the API like any client, so it
// has exactly the rights of the user who logs in. docs/API.md ("Status page") describes it.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ApiCallError, ApiErrorCodes } from './api-errors.js';

/** Path of the status page; its files are under `${UI_PATH}/`. */
export const UI_PATH = '/ui';

/** The folder the page's files ship in (`ui/` at the package root, beside `dist/` and `src/`). */
export const UI_ASSET_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

/**
 * Same-origin files only, no inline script or style, no frames, no form posts, and Trusted
 * Types required so that no string can reach an HTML sink (status.js builds DOM nodes).
 */
export const UI_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

/** Headers of every status page answer (the server adds Cache-Control and nosniff). */
export const UI_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': UI_CONTENT_SECURITY_POLICY,
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** URL path -> [file in UI_ASSET_DIR, Content-Type]. */
const ROUTES: ReadonlyMap<string, readonly [string, string]> = new Map([
  [UI_PATH, ['index.html', 'text/html; charset=utf-8']],
  [`${UI_PATH}/`, ['index.html', 'text/html; charset=utf-8']],
  [`${UI_PATH}/status.js`, ['status.js', 'text/javascript; charset=utf-8']],
  [`${UI_PATH}/status.css`, ['status.css', 'text/css; charset=utf-8']],
  [`${UI_PATH}/favicon.svg`, ['favicon.svg', 'image/svg+xml']],
]);

/** One file of the page, ready to send. */
export interface UiFile {
  contentType: string;
  body: string;
}

/** The status page's files, loaded once. */
export interface StatusPage {
  /** True for `/ui` and every path beneath it. */
  handles(pathname: string): boolean;
  /** The file at `pathname` (one {@link handles}); throws a 404 API error if there is none. */
  file(pathname: string): UiFile;
}

/**
 * Reads the page's files from `dir`. A missing file does not stop the server: the page then
 * answers 404 naming the missing file, and `onMissing` is told once at start.
 */
export async function loadStatusPage(dir: string = UI_ASSET_DIR, onMissing?: (problem: string) => void): Promise<StatusPage> {
  const files = new Map<string, UiFile>();
  const problems: string[] = [];
  for (const [urlPath, [file, contentType]] of ROUTES) {
    try {
      files.set(urlPath, { contentType, body: await readFile(`${dir}/${file}`, 'utf8') });
    } catch (err) {
      problems.push(`${file}: ${(err as Error).message}`);
    }
  }
  const missing =
    problems.length === 0 ? undefined : `the status page files are missing from this installation (${[...new Set(problems)].join('; ')})`;
  if (missing !== undefined) onMissing?.(missing);
  return {
    handles: (pathname) => pathname === UI_PATH || pathname.startsWith(`${UI_PATH}/`),
    file(pathname) {
      if (!ROUTES.has(pathname)) {
        throw new ApiCallError(ApiErrorCodes.NOT_FOUND, `no route ${pathname.slice(0, 200)}: the status page is ${UI_PATH}`);
      }
      const found = files.get(pathname);
      if (found === undefined) throw new ApiCallError(ApiErrorCodes.NOT_FOUND, missing ?? `no file for ${pathname}`);
      return found;
    },
  };
}
