// Writes face-api.js' FaceExpressionNet outputs, computed by @vladmandic/face-api's own code on TensorFlow.js, as JSON.
//
// The reference for recognizers/face_expression_net.py. The package's node build without tfjs-node
// (dist/face-api.node-wasm.js: it needs only @tensorflow/tfjs and registers, but does not use, the
// wasm backend) loads model/face_expression_model.bin with its own loader (FaceExpressionNet.loadFromDisk,
// which dequantizes the uint8 weights) and runs the network with its own forward pass
// (FaceExpressionNet.forward for the probabilities, runNet for the logits), on @tensorflow/tfjs'
// pure-JavaScript CPU backend (tfjs-node would need a native binary download). Its preprocessing
// is the package's too: a list of (H, W, 3) tensors becomes a NetInput, padded to square, resized
// to 112 x 112 when needed, mean-subtracted and divided by 255 inside FaceFeatureExtractor.
//
//   mkdir -p /tmp/fapi && cd /tmp/fapi && npm pack @vladmandic/face-api@1.7.15
//   npm init -y && npm install @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0 ./vladmandic-face-api-1.7.15.tgz
//   python scripts/convert_face_api_expression.py inputs /tmp/fapi_inputs
//   node scripts/make_face_api_expression_reference.mjs --modules /tmp/fapi/node_modules \
//       --inputs /tmp/fapi_inputs --out /tmp/fapi_reference.json
//   python scripts/convert_face_api_expression.py compare /tmp/fapi_inputs /tmp/fapi_reference.json --write-test-data
//
// Input sets: square.npy, tall.npy, wide.npy in --inputs, each C-order uint8 (N, H, W, 3) RGB.
// Nothing here is copied from face-api or tfjs; it only calls their public API.

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const SETS = ['square', 'tall', 'wide'];

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}: use --name value`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const need of ['modules', 'inputs', 'out']) {
    if (!args[need]) throw new Error(`missing --${need}: see the header of this script`);
  }
  return args;
}

// A .npy file of C-order uint8: magic, version, header length, a Python dict header, then the bytes.
function readNpyUint8(path) {
  const buf = readFileSync(path);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${path} is not a .npy file`);
  const major = buf[6];
  const headerStart = major === 1 ? 10 : 12;
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const header = buf.toString('latin1', headerStart, headerStart + headerLen);
  if (!/'descr':\s*'\|u1'/.test(header) || /'fortran_order':\s*True/.test(header)) throw new Error(`${path}: need C-order uint8, got ${header}`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  return { shape, data: new Uint8Array(buf.buffer, buf.byteOffset + headerStart + headerLen, count) };
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const modules = resolve(args.modules);
  const require = createRequire(join(modules, '..', 'package.json'));
  const tf = require('@tensorflow/tfjs');
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const pkgDir = join(modules, '@vladmandic', 'face-api');
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  await tf.setBackend('cpu');
  await tf.ready();

  const modelDir = join(pkgDir, 'model');
  const net = new faceapi.FaceExpressionNet();
  await net.loadFromDisk(modelDir);

  const out = {
    package: pkg.name,
    package_version: pkg.version,
    loaded_by: 'face-api.node-wasm.js FaceExpressionNet.loadFromDisk; probs from forward(), logits from runNet(NetInput)',
    manifest_sha256: sha256(readFileSync(join(modelDir, 'face_expression_model-weights_manifest.json'))),
    bin_sha256: sha256(readFileSync(join(modelDir, 'face_expression_model.bin'))),
    tfjs_version: tf.version.tfjs,
    backend: tf.getBackend(),
    preprocessing: "face-api NetInput.toBatchTensor(112, centred) -> (x - [122.782, 117.001, 104.298]) / 255",
    classes: Array.from(faceapi.FACE_EXPRESSION_LABELS),
    sets: {},
  };
  for (const name of SETS) {
    const { shape, data } = readNpyUint8(join(args.inputs, `${name}.npy`));
    const [n, h, w, c] = shape;
    if (c !== 3) throw new Error(`${name}.npy must be (N, H, W, 3), got ${shape}`);
    const images = [];
    for (let i = 0; i < n; i += 1) images.push(tf.tensor3d(data.subarray(i * h * w * 3, (i + 1) * h * w * 3), [h, w, 3], 'int32'));
    // A list input: the package builds one NetInput batch (its padToSquare and resize per image).
    const probs = await net.forward(images);
    const netInput = await faceapi.toNetInput(images);
    const logits = net.runNet(netInput);
    out.sets[name] = { shape, inputs_sha256: sha256(data), probs: await probs.array(), logits: await logits.array() };
    tf.dispose([probs, logits, ...images]);
    console.log(`${name}: ${n} inputs of ${h} x ${w}`);
  }
  writeFileSync(args.out, JSON.stringify(out));
  console.log(`wrote ${args.out}: ${pkg.name} ${pkg.version}, tfjs ${out.tfjs_version} (${out.backend} backend)`);
}

main().catch((err) => {
  console.error(String(err && err.message ? err.message : err));
  process.exit(1);
});
