// The Live tab's WebGL head: loads the exported GLB (the head with its ARKit morph targets) with three.js
// (shipped beside this file, no CDN) and plays the frames the server streams back, at their own frame rate.
//
// The server writes each chunk's frames as JSON into the hidden #live-weights textbox:
//   {"seq": n, "fps": 30, "names": [52 ARKit names], "frames": [{"w": [52 weights], "p": [pitch, yaw, roll]}, ...]}
// Frames are queued and shown one per 1/fps; a page that draws slower than that skips to the newest frame due,
// and a queue longer than half a second is cut to its newest frames (a slow page catches up instead of
// trailing further behind the voice).
// window.emoavatarLive exposes what the page shows (jaw, frames shown, errors) for tests and debugging.
import * as THREE from "three";
import { GLTFLoader } from "./three/examples/jsm/loaders/GLTFLoader.js";

const live = { ready: false, error: null, jaw: 0, shown: 0, drawn: 0, morphs: 0, corner: null };
window.emoavatarLive = live;

function waitFor(selector) {
  return new Promise((resolve) => {
    const look = () => {
      const el = document.querySelector(selector);
      if (el) resolve(el); else setTimeout(look, 200);
    };
    look();
  });
}

async function main() {
  const holder = await waitFor("#live-canvas");
  const size = 320;
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(1);
  renderer.setSize(size, size);
  renderer.outputColorSpace = THREE.SRGBColorSpace;
  holder.appendChild(renderer.domElement);
  const scene = new THREE.Scene();
  // The server's backdrop, in sRGB as the server writes it (a bare THREE.Color(r, g, b) is linear: it drew lighter).
  const [br, bg, bb] = (holder.dataset.background || "0.92,0.92,0.94").split(",").map(Number);
  scene.background = new THREE.Color().setRGB(br, bg, bb, THREE.SRGBColorSpace);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x404040, 1.6));
  const key = new THREE.DirectionalLight(0xffffff, 2.2);
  key.position.set(0.4, 0.6, 1.0);
  scene.add(key);
  const camera = new THREE.PerspectiveCamera(18, 1, 0.01, 20);

  const gltf = await new GLTFLoader().loadAsync(holder.dataset.glb);
  scene.add(gltf.scene);
  const box = new THREE.Box3().setFromObject(gltf.scene);
  const centre = box.getCenter(new THREE.Vector3());
  const extent = box.getSize(new THREE.Vector3());
  const look = new THREE.Vector3(centre.x, centre.y + 0.12 * extent.y, centre.z);
  camera.position.set(look.x, look.y, look.z + 3.4 * extent.y);
  camera.lookAt(look);
  const meshes = [];
  gltf.scene.traverse((o) => { if (o.isMesh && o.morphTargetDictionary) meshes.push(o); });
  live.morphs = meshes.length ? Object.keys(meshes[0].morphTargetDictionary).length : 0;
  const pivot = gltf.scene.getObjectByName("head_pivot");
  live.ready = true;

  let lastSeq = null, fps = 30, names = null, slots = null, jawIndex = -1;
  const queue = [];
  let nextAt = 0;

  function poll() {
    const box = document.querySelector("#live-weights textarea");
    if (!box || !box.value || box.value === lastSeq) return;
    lastSeq = box.value;
    let msg;
    try { msg = JSON.parse(box.value); } catch (e) { return; }
    if (!msg.frames) return;
    fps = msg.fps || 30;
    if (!names || names.join() !== msg.names.join()) {
      names = msg.names;
      jawIndex = names.indexOf("jawOpen");
      slots = meshes.map((m) => names.map((n) => m.morphTargetDictionary[n]));
    }
    queue.push(...msg.frames);
    const most = Math.ceil(fps / 2);
    if (queue.length > most) queue.splice(0, queue.length - most);
  }

  function show(frame) {
    meshes.forEach((m, j) => {
      const s = slots[j];
      for (let k = 0; k < s.length; k++) if (s[k] !== undefined) m.morphTargetInfluences[s[k]] = frame.w[k];
    });
    if (pivot && frame.p) pivot.rotation.set(frame.p[0], frame.p[1], frame.p[2], "YXZ");  // R = Ry Rx Rz, as the renderer
    live.jaw = jawIndex >= 0 ? frame.w[jawIndex] : 0;
    live.shown += 1;
  }

  renderer.setAnimationLoop((now) => {
    poll();
    if (queue.length && now >= nextAt) {
      // Frames due since the last one shown: on a slow page (software WebGL) skip to the newest that is due.
      const step = 1000 / fps;
      const due = nextAt ? Math.min(queue.length, 1 + Math.floor((now - nextAt) / step)) : 1;
      const frames = queue.splice(0, due);
      show(frames[frames.length - 1]);
      nextAt = (nextAt && now - nextAt < step ? nextAt : now) + step;
    }
    renderer.render(scene, camera);
    live.drawn += 1;
    if (!live.corner) {  // the backdrop as drawn (8-bit sRGB), for tests: the canvas keeps its drawing buffer
      const gl = renderer.getContext();
      const px = new Uint8Array(4);
      gl.readPixels(1, size - 2, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
      live.corner = [px[0], px[1], px[2]];
    }
  });
}

main().catch((e) => { live.error = String(e); console.error("emoavatar live head:", e); });
