// The /ws connection: JSON events and binary preview frames, reconnecting when dropped.

const PREVIEW_EVENT = 1;
const IMAGE_TYPES = { 1: 'image/jpeg', 2: 'image/png' };

export class ServerSocket {
  /** handlers: {message(type, data), preview(blob), open(), close()} */
  constructor(clientId, handlers) {
    this.clientId = clientId;
    this.handlers = handlers;
    this.delay = 500;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws?clientId=${encodeURIComponent(this.clientId)}&previews=1`);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => { this.delay = 500; this.handlers.open?.(); };
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = () => {
      this.handlers.close?.();
      // Back off so a stopped server is not hammered.
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    };
    this.ws = ws;
  }

  receive(data) {
    if (data instanceof ArrayBuffer) {
      if (data.byteLength < 8) return;
      const view = new DataView(data);
      if (view.getUint32(0) !== PREVIEW_EVENT) return;
      const type = IMAGE_TYPES[view.getUint32(4)] || 'image/jpeg';
      this.handlers.preview?.(new Blob([data.slice(8)], { type }));
      return;
    }
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    if (msg && msg.type) this.handlers.message?.(msg.type, msg.data || {});
  }
}
