// The page talks to the same server's JSON API: GET /v1/xray (the model) and
// POST /v1/classify (one image file per request, ?explain=1 for the Grad-CAM overlay,
// ?image=1 for a DICOM file's picture as the model sees it: browsers cannot show DICOM).
"use strict";
let classes = [];
let explain = false; // the model can draw Grad-CAM overlays

async function describe() {
  const el = document.getElementById("model");
  try {
    const r = await fetch("/v1/xray");
    const m = await r.json();
    if (!r.ok) throw new Error(m.error);
    const md = m.metadata;
    classes = md.classes;
    explain = m.explain;
    el.textContent = `model ${m.name} version ${m.version}: ${md.architecture}, ${md.input_size} px, ` +
      `classes ${md.classes.join(", ")}, run ${md.run_id || "?"}, xray ${md.xray_version}` +
      (md.threshold ? `, threshold ${md.threshold.rule} ${md.threshold.value.toFixed(4)}` : "");
  } catch (e) {
    el.textContent = "model unavailable: " + e.message;
  }
}

function row(file) {
  const div = document.createElement("div");
  div.className = "result";
  const img = document.createElement("img");
  img.src = URL.createObjectURL(file);
  img.alt = file.name;
  img.onerror = () => { img.hidden = true; }; // a DICOM file: the server's picture replaces it
  const info = document.createElement("div");
  info.innerHTML = `<div class="name"></div><div class="class">classifying...</div><div class="bars"></div>`;
  info.querySelector(".name").textContent = file.name;
  div.append(img, info);
  document.getElementById("results").prepend(div);
  return div;
}

async function classify(file) {
  const div = row(file);
  const cls = div.querySelector(".class");
  const form = new FormData();
  form.append("file", file);
  try {
    const r = await fetch("/v1/classify?image=1" + (explain ? "&explain=1" : ""), { method: "POST", body: form });
    const out = await r.json();
    if (!r.ok) throw new Error(out.error);
    if (out.image) {
      const img = div.querySelector("img");
      img.onerror = null;
      URL.revokeObjectURL(img.src);
      img.src = "data:image/png;base64," + out.image;
      img.alt = `${file.name} as the model sees it`;
      img.title = "decoded and windowed as the model sees it";
      img.className = "model-view";
      img.hidden = false;
    }
    cls.textContent = `${out.decision.class} (${(100 * out.probabilities[out.decision.class]).toFixed(1)} %)`;
    cls.dataset.class = out.decision.class;
    const bars = div.querySelector(".bars");
    for (const name of (classes.length ? classes : Object.keys(out.probabilities))) {
      const p = out.probabilities[name];
      const b = document.createElement("div");
      b.innerHTML = `<span></span><div class="bar"><div></div></div>`;
      b.querySelector("span").textContent = `${name}: ${(100 * p).toFixed(1)} %`;
      b.querySelector(".bar").classList.add(name);
      b.querySelector(".bar div").style.width = `${100 * p}%`;
      bars.append(b);
    }
    if (out.overlay) {
      const o = document.createElement("img");
      o.src = "data:image/png;base64," + out.overlay;
      o.alt = "Grad-CAM overlay";
      o.title = `Grad-CAM: where the evidence for ${out.explained} lies`;
      div.append(o);
    }
    div.querySelector(".bars").insertAdjacentText("beforeend", `decision: ${out.decision.rule}`);
  } catch (e) {
    cls.textContent = "error: " + e.message;
    cls.classList.add("error");
  }
}

function take(files) {
  for (const f of files) classify(f);
}

const drop = document.getElementById("drop");
document.getElementById("file").addEventListener("change", (e) => take(e.target.files));
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); take(e.dataTransfer.files); });
describe();
