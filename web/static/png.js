// Reads text chunks from PNG files, where ComfyUI keeps "workflow" and "prompt".

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** {keyword: text} for the tEXt, zTXt and iTXt chunks of a PNG; {} when it is not a PNG. */
export async function readPngText(buffer) {
  const bytes = new Uint8Array(buffer);
  if (!SIGNATURE.every((b, i) => bytes[i] === b)) return {};
  const view = new DataView(buffer);
  const utf8 = new TextDecoder('utf-8');
  const texts = {};
  let pos = 8;
  while (pos + 8 <= bytes.length) {
    const length = view.getUint32(pos);
    const kind = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const data = bytes.subarray(pos + 8, pos + 8 + length);
    if (kind === 'IEND') break;
    const nul = data.indexOf(0);
    if (nul > 0 && (kind === 'tEXt' || kind === 'zTXt' || kind === 'iTXt')) {
      const key = utf8.decode(data.subarray(0, nul));
      if (kind === 'tEXt') texts[key] = utf8.decode(data.subarray(nul + 1));
      else if (kind === 'zTXt') texts[key] = utf8.decode(await inflate(data.subarray(nul + 2)));
      else {
        const compressed = data[nul + 1] === 1;
        let k = nul + 3;
        k = data.indexOf(0, k) + 1; // language tag
        k = data.indexOf(0, k) + 1; // translated keyword
        const body = data.subarray(k);
        texts[key] = utf8.decode(compressed ? await inflate(body) : body);
      }
    }
    pos += 12 + length;
  }
  return texts;
}
