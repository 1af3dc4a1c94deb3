// Latentloom's extension for ComfyUI's frontend when Latentloom serves it: where the frontend would open its own
// default workflow (a first visit, "Load Default"), which is for another model family, it opens Stable Diffusion
// text-to-image on the first installed checkpoint instead, laid out by the server's /workflow/convert.
import { app } from '../../scripts/app.js';
import { api } from '../../scripts/api.js';

const TEXT_TO_IMAGE = {
  4: { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: '' } },
  5: { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
  6: { class_type: 'CLIPTextEncode',
       inputs: { text: 'beautiful scenery nature glass bottle landscape, purple galaxy bottle', clip: ['4', 1] } },
  7: { class_type: 'CLIPTextEncode', inputs: { text: 'text, watermark', clip: ['4', 1] } },
  3: { class_type: 'KSampler',
       inputs: { seed: 156680208700286, steps: 20, cfg: 8.0, sampler_name: 'euler', scheduler: 'normal', denoise: 1.0,
                 model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] } },
  8: { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
  9: { class_type: 'SaveImage', inputs: { filename_prefix: 'Latentloom', images: ['8', 0] } },
};

async function json(path, options) {
  const reply = await api.fetchApi(path, options);
  if (!reply.ok) throw new Error(`${path} answered ${reply.status}`);
  return reply.json();
}

async function firstCheckpoint() {
  const info = await json('/object_info/CheckpointLoaderSimple');
  const spec = info.CheckpointLoaderSimple.input.required.ckpt_name;
  const choices = Array.isArray(spec[0]) ? spec[0] : (spec[1]?.options ?? []);
  return choices[0] ?? '';
}

async function latentloomDefault() {
  const prompt = structuredClone(TEXT_TO_IMAGE);
  prompt[4].inputs.ckpt_name = await firstCheckpoint();
  const answer = await json('/workflow/convert', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ to: 'ui', workflow: prompt }),
  });
  return answer.workflow;
}

const loadGraphData = app.loadGraphData.bind(app);
app.loadGraphData = async function (graphData, ...rest) {
  if (!graphData) {
    try {
      graphData = await latentloomDefault();
    } catch (error) {
      console.warn('Latentloom: the default workflow could not be built; the frontend opens its own', error);
    }
  }
  return loadGraphData(graphData, ...rest);
};

app.registerExtension({ name: 'latentloom.defaultWorkflow' });
