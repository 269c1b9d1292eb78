// The one place the page talks to the updater service (/api/v1). Every mutation carries the CSRF
// token the service handed out at sign-in (or from GET /session); errors come back as ApiError with
// the service's stable code and a sentence in plain words that says what to do.
import { plainMessage } from './errors.ts';

export class ApiError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface Session {
  username: string;
  mustChange: boolean;
  csrfToken: string;
}

const BASE = '/api/v1';
let csrfToken: string | null = null;
let onUnauthenticated: (() => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when the service answers 401: the session expired or was never there. */
export function setUnauthenticatedHandler(fn: (() => void) | null): void {
  onUnauthenticated = fn;
}

function isMutation(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD';
}

export function headersFor(method: string, json: boolean): Record<string, string> {
  const h: Record<string, string> = { accept: 'application/json' };
  if (json) h['content-type'] = 'application/json';
  if (isMutation(method) && csrfToken) h['x-csrf-token'] = csrfToken;
  return h;
}

/** Reads the service's error body ({code,message} or {error:{code,message}}) into an ApiError. */
export function errorFrom(status: number, body: unknown, fallback: string): ApiError {
  let code = status === 401 ? 'UNAUTHENTICATED' : status === 429 ? 'RATE_LIMITED' : `HTTP_${status}`;
  let message = fallback;
  const b = body as Record<string, unknown> | null;
  const inner = (b && typeof b.error === 'object' && b.error ? b.error : b) as Record<string, unknown> | null;
  if (inner && typeof inner.code === 'string') code = inner.code;
  if (inner && typeof inner.message === 'string' && inner.message) message = inner.message;
  return new ApiError(code, status, plainMessage(code, message, status));
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(BASE + path, {
      method,
      credentials: 'same-origin',
      headers: headersFor(method, body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError('OFFLINE', 0, plainMessage('OFFLINE', 'The appliance did not answer.', 0));
  }
  const text = await res.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (!res.ok) {
    const err = errorFrom(res.status, parsed, text.slice(0, 200) || res.statusText);
    if (res.status === 401 && path !== '/login' && onUnauthenticated) onUnauthenticated();
    throw err;
  }
  return parsed as T;
}

/** Normalises what /login and /session return into a Session. */
export function toSession(body: unknown): Session {
  const b = (body ?? {}) as Record<string, unknown>;
  const user = (typeof b.user === 'object' && b.user ? b.user : b) as Record<string, unknown>;
  const username =
    (typeof user.username === 'string' && user.username) ||
    (typeof user.name === 'string' && user.name) ||
    (typeof b.username === 'string' && b.username) ||
    'admin';
  const mustChange = Boolean(user.mustChange ?? b.mustChange ?? b.mustChangePassword);
  const token = (b.csrfToken ?? b.csrf ?? '') as string;
  return { username, mustChange, csrfToken: token };
}

export async function login(username: string, password: string): Promise<Session> {
  const s = toSession(await request('POST', '/login', { username, password }));
  if (!s.csrfToken) s.csrfToken = (await currentSession())?.csrfToken ?? '';
  setCsrfToken(s.csrfToken);
  return s;
}

export async function currentSession(): Promise<Session | null> {
  try {
    const s = toSession(await request('GET', '/session'));
    setCsrfToken(s.csrfToken);
    return s;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return null;
    throw err;
  }
}

export async function logout(): Promise<void> {
  try {
    await request('POST', '/logout', {});
  } finally {
    setCsrfToken(null);
  }
}

/**
 * Uploads a file as application/octet-stream through XMLHttpRequest, because fetch() has no upload
 * progress. Resolves with the parsed JSON answer; rejects with an ApiError in plain words.
 */
export function upload<T>(
  path: string,
  file: Blob,
  onProgress: (sent: number, total: number) => void,
  contentType = 'application/octet-stream',
): { promise: Promise<T>; abort: () => void } {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<T>((resolve, reject) => {
    xhr.open('POST', BASE + path);
    xhr.setRequestHeader('content-type', contentType);
    xhr.setRequestHeader('accept', 'application/json');
    if (csrfToken) xhr.setRequestHeader('x-csrf-token', csrfToken);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onerror = () =>
      reject(new ApiError('OFFLINE', 0, plainMessage('OFFLINE', 'The upload was interrupted.', 0)));
    xhr.onabort = () => reject(new ApiError('ABORTED', 0, 'The upload was stopped.'));
    xhr.onload = () => {
      let parsed: unknown = null;
      try {
        parsed = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        parsed = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(parsed as T);
      else {
        if (xhr.status === 401 && onUnauthenticated) onUnauthenticated();
        reject(errorFrom(xhr.status, parsed, xhr.statusText || 'upload refused'));
      }
    };
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}
