// HTTP client for the ComfyUI-compatible API under /api/.

async function request(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`/api${path}`, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: { message: text } }; }
  return { ok: response.ok, status: response.status, data };
}

async function json(method, path, body) {
  const r = await request(method, path, body);
  if (!r.ok) throw new Error((r.data && r.data.error && r.data.error.message) || `${method} ${path} failed (${r.status})`);
  return r.data;
}

export const api = {
  objectInfo: () => json('GET', '/object_info'),
  /** Each file of a model folder described (kind, base, training facts, problems). */
  modelDetails: (folder) => json('GET', `/models/${encodeURIComponent(folder)}?details=1`),
  /** Asks the server to fetch a model ({source, revision?, client_id}); answers {install_id}, progress comes by websocket. */
  installModel: (body) => json('POST', '/models/install', body),
  /** Returns {ok, status, data}: a 400 carries node_errors the editor shows. */
  queuePrompt: (prompt, clientId, workflow, promptId) =>
    request('POST', '/prompt', { prompt, client_id: clientId, prompt_id: promptId, extra_data: { extra_pnginfo: { workflow } } }),
  /** Converts a workflow on the server, the one converter the CLI uses too: to 'api' → {prompt}, to 'ui' → {workflow}. */
  convertWorkflow: (workflow, to) => json('POST', '/workflow/convert', { workflow, to }),
  /** The editor workflow for an AUTOMATIC1111 image's `parameters` text, built by the server → {workflow}. */
  workflowFromParameters: (parameters) => json('POST', '/workflow/convert', { parameters, to: 'ui' }),
  queue: () => json('GET', '/queue'),
  deleteFromQueue: (ids) => json('POST', '/queue', { delete: ids }),
  clearQueue: () => json('POST', '/queue', { clear: true }),
  history: (maxItems = 20) => json('GET', `/history?max_items=${maxItems}`),
  interrupt: () => request('POST', '/interrupt'),
  /** fields: the form's other fields ({type, subfolder, overwrite}) → {name, subfolder, type}. */
  uploadImage: (file, fields = {}) => {
    const form = new FormData();
    form.append('image', file);
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    return json('POST', '/upload/image', form);
  },
  viewUrl: (image) => {
    const q = new URLSearchParams({ filename: image.filename, subfolder: image.subfolder || '', type: image.type || 'output' });
    return `/api/view?${q}`;
  },
};
