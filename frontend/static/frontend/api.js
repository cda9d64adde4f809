// Small fetch helpers shared by every page: JSON in and out, CSRF header on writes.
const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

export class ApiError extends Error {
  constructor(status, errors) {
    super(errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join('; ') || `HTTP ${status}`);
    this.status = status;
    this.errors = errors;
  }
}

async function request(method, url, body) {
  const options = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.headers['X-CSRFToken'] = csrfToken();
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, (data && data.errors) || []);
  return data;
}

export const getJson = (url) => request('GET', url);
export const postJson = (url, body = {}) => request('POST', url, body);
export const deleteJson = (url) => request('DELETE', url, {});
export const patchJson = (url, body = {}) => request('PATCH', url, body);
export const putJson = (url, body = {}) => request('PUT', url, body);

// Query string from an object, leaving out empty values.
export function query(params) {
  const search = new URLSearchParams();
  Object.entries(params).forEach(([key, value]) => {
    if (value !== undefined && value !== null && String(value).trim() !== '') search.set(key, String(value).trim());
  });
  const text = search.toString();
  return text ? `?${text}` : '';
}
