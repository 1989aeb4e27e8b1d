// The demo page: loads an export folder served under /models/<name>/ with transformers.js, from local files only.
// window.demo exposes the loaded pipeline to the browser tests and the benchmark.
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const status = (text, error = false) => { $("status").textContent = text; $("status").className = error ? "error" : ""; };
window.demo = { state: "loading" };

async function missingRuntimeFile(files) {
  for (const name of files) {
    const response = await fetch(`/runtime/${name}`, { method: "HEAD" });
    if (!response.ok) return `/runtime/${name}`;
  }
  return null;
}

function table(rows) {
  $("result").innerHTML = "";
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const cell of row) { const td = document.createElement("td"); td.textContent = cell; tr.appendChild(td); }
    $("result").appendChild(tr);
  }
}

function softmax(values) {
  const top = Math.max(...values);
  const exps = values.map((v) => Math.exp(v - top));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / total);
}

// Every output of the model (name -> {dims, data}) and its inputs, for texts and optional second segments.
async function raw(pipe, texts, pairs = null) {
  const inputs = pipe.tokenizer(texts, { text_pair: pairs, padding: true, truncation: true });
  const outputs = await pipe.model(inputs);
  const plain = (t) => ({ dims: t.dims, data: Array.from(t.data, Number) });
  const result = { inputs: {}, outputs: {} };
  for (const [name, tensor] of Object.entries(inputs)) result.inputs[name] = plain(tensor);
  for (const [name, tensor] of Object.entries(outputs)) result.outputs[name] = plain(tensor);
  return result;
}

// One run of what the page shows: rows of [label, score] for the task.
async function show(pipe, task, first, second, config) {
  if (task === "text-classification") {
    const { outputs } = await raw(pipe, [first], second ? [second] : null);
    const logits = outputs.logits.data;
    if (logits.length === 1) return [["score (regression)", logits[0].toFixed(4)]];
    const probs = softmax(logits);
    return probs.map((p, i) => [config.id2label?.[i] ?? `LABEL_${i}`, p.toFixed(4)]).sort((a, b) => b[1] - a[1]);
  }
  if (task === "token-classification") {
    const entities = await pipe(first, { ignore_labels: [] });
    return entities.map((e) => [`${e.word} → ${e.entity}`, e.score.toFixed(4)]);
  }
  if (task === "question-answering") {
    const answer = await pipe(first, second || first);
    return [[answer.answer, answer.score.toFixed(4)]];
  }
  if (task === "fill-mask") {
    const mask = pipe.tokenizer.mask_token;
    return (await pipe(first.includes(mask) ? first : `${first} ${mask}`)).map((p) => [p.token_str, p.score.toFixed(4)]);
  }
  const features = await pipe(first, { pooling: "mean" });
  return [["mean-pooled vector", `${features.dims.join(" x ")}`]];
}

async function main() {
  const info = await (await fetch("/info.json")).json();
  const missing = await missingRuntimeFile(info.runtime);
  if (missing) throw new Error(`missing runtime file ${missing}: run \`npm ci --ignore-scripts\` in web/, then restart the server`);
  const name = params.get("model") ?? Object.keys(info.models)[0];
  const model = info.models[name];
  if (!model) throw new Error(`no model ${name} is served here (${Object.keys(info.models).join(", ")})`);
  if (!model.task) throw new Error(`${model.architecture} has no transformers.js pipeline`);
  const dtype = params.get("dtype") ?? model.dtypes[model.dtypes.length - 1];
  const threads = Number(params.get("threads") ?? 0) || Math.min(4, navigator.hardwareConcurrency || 1);
  $("model").textContent = name; $("task").textContent = model.task; $("dtype").textContent = dtype;
  $("threads").textContent = String(threads);
  if (model.task !== "text-classification" && model.task !== "question-answering") $("second-label").hidden = true;

  const { pipeline, env } = await import("/runtime/transformers.web.min.js");
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = "/models/";
  env.backends.onnx.wasm.wasmPaths = { mjs: "/runtime/ort-wasm-simd-threaded.mjs", wasm: "/runtime/ort-wasm-simd-threaded.wasm" };
  env.backends.onnx.wasm.numThreads = threads;
  const started = performance.now();
  const pipe = await pipeline(model.task, name, { dtype, device: "wasm" });
  const config = pipe.model.config;
  Object.assign(window.demo, { pipe, env, task: model.task, dtype, threads, raw: (t, p) => raw(pipe, t, p) });
  const run = async () => {
    const t0 = performance.now();
    const rows = await show(pipe, model.task, $("first").value, $("second").value, config);
    const ms = performance.now() - t0;
    table([["label", "score"], ...rows]);
    $("ms").textContent = `${ms.toFixed(1)} ms`;
    return { rows, ms };
  };
  window.demo.run = run;
  $("run").disabled = false;
  $("run").onclick = () => run().catch((e) => status(String(e), true));
  window.demo.first = await run();
  window.demo.firstLabelMs = performance.now();
  window.demo.loadMs = window.demo.firstLabelMs - started;
  status(`ready (crossOriginIsolated: ${self.crossOriginIsolated}; loaded in ${window.demo.loadMs.toFixed(0)} ms)`);
  window.demo.state = "ready";
}

main().catch((error) => {
  status(String(error.message ?? error), true);
  window.demo.state = "error";
  window.demo.error = String(error.message ?? error);
});
