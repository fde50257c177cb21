// Builds the native addon with cmake: the CPU backend always, the CUDA backend when a CUDA toolkit with
// cuBLASLt is present (CUDA_HOME or /usr/local/cuda). Writes build/Release/engine-build.json recording
// what was built and, when CUDA was skipped, why. Incremental: reruns only what changed.
//
// Environment: GRAIL_ENGINE_CUDA=0 skips CUDA, =1 fails when it cannot be built; GRAIL_ENGINE_CUDA_ARCHS
// overrides the SM list (e.g. "90"); GRAIL_ENGINE_PORTABLE=1 builds without -march=native;
// GRAIL_ENGINE_KERNEL_TEST=1 also builds build/Release/cuda_kernel_test (CUDA kernels vs CPU references).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const buildDir = join(pkgDir, "build", "cmake");
const outDir = join(pkgDir, "build", "Release");
const require = createRequire(join(pkgDir, "package.json"));

function fail(message) {
  console.error(`engine-native build: ${message}`);
  process.exit(1);
}

function findHeaders() {
  // Overridable for machines without node_modules (the headers are then copied next to the sources).
  const napiHeaders =
    process.env.GRAIL_NODE_API_HEADERS ??
    join(dirname(require.resolve("node-api-headers/package.json")), "include");
  const addonApi =
    process.env.GRAIL_NODE_ADDON_API ?? dirname(require.resolve("node-addon-api/package.json"));
  if (!existsSync(join(napiHeaders, "node_api.h"))) fail(`node_api.h not found in ${napiHeaders}`);
  if (!existsSync(join(addonApi, "napi.h"))) fail(`napi.h not found in ${addonApi}`);
  return { napiHeaders, addonApi };
}

function which(cmd) {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

// Decides whether the CUDA backend can be built here; returns {build, reason, home, archs}.
function detectCuda() {
  const mode = process.env.GRAIL_ENGINE_CUDA;
  if (mode === "0") return { build: false, reason: "CUDA build disabled by GRAIL_ENGINE_CUDA=0" };
  const candidates = [process.env.CUDA_HOME, process.env.CUDA_PATH, "/usr/local/cuda"].filter(Boolean);
  let reason = "no CUDA toolkit found (set CUDA_HOME or install one under /usr/local/cuda)";
  for (const home of candidates) {
    const nvcc = join(home, "bin", "nvcc");
    if (!existsSync(nvcc)) {
      reason = `no nvcc in ${home}/bin`;
      continue;
    }
    const incDirs = [join(home, "include"), join(home, "targets", "x86_64-linux", "include")];
    if (!incDirs.some((d) => existsSync(join(d, "cublasLt.h")))) {
      reason = `CUDA toolkit at ${home} has nvcc but no cuBLASLt headers (cublasLt.h); install the cuBLAS development package`;
      continue;
    }
    const libDir = join(home, "lib64");
    const libs = existsSync(libDir) ? readdirSync(libDir) : [];
    if (!libs.some((f) => f.startsWith("libcublasLt.so"))) {
      reason = `CUDA toolkit at ${home} has no libcublasLt.so in lib64; install the cuBLAS library`;
      continue;
    }
    let supported = [];
    try {
      supported = execFileSync(nvcc, ["--list-gpu-arch"], { encoding: "utf8" })
        .split(/\s+/)
        .map((s) => /^compute_(\d+)$/.exec(s)?.[1])
        .filter(Boolean)
        .map(Number);
    } catch {
      supported = [80, 90];
    }
    const wanted = process.env.GRAIL_ENGINE_CUDA_ARCHS
      ? process.env.GRAIL_ENGINE_CUDA_ARCHS.split(/[;, ]+/).map(Number)
      : [80, 90, 100, 120];
    const archs = wanted.filter((a) => supported.includes(a));
    if (archs.length === 0) {
      reason = `nvcc in ${home} supports none of sm ${wanted.join(", ")}`;
      continue;
    }
    return { build: true, home, archs };
  }
  if (mode === "1") fail(`CUDA backend requested (GRAIL_ENGINE_CUDA=1) but cannot be built: ${reason}`);
  return { build: false, reason };
}

const cmake = which("cmake");
if (!cmake) fail("cmake not found on PATH; install cmake (>= 3.18) and a C++17 compiler");
const { napiHeaders, addonApi } = findHeaders();
const cuda = detectCuda();
mkdirSync(buildDir, { recursive: true });
mkdirSync(outDir, { recursive: true });

const defs = [
  `-DNODE_API_HEADERS_DIR=${napiHeaders}`,
  `-DNODE_ADDON_API_DIR=${addonApi}`,
  `-DGRAIL_OUTPUT_DIR=${outDir}`,
  `-DGRAIL_PORTABLE=${process.env.GRAIL_ENGINE_PORTABLE === "1" ? "ON" : "OFF"}`,
  `-DGRAIL_CUDA=${cuda.build ? "ON" : "OFF"}`,
];
if (cuda.build) defs.push(`-DGRAIL_CUDA_HOME=${cuda.home}`, `-DGRAIL_CUDA_ARCHS=${cuda.archs.join(";")}`);

const run = (args) => {
  const r = spawnSync(cmake, args, { stdio: "inherit" });
  if (r.status !== 0) fail(`cmake ${args[0]} failed (exit ${r.status})`);
};
run(["-S", pkgDir, "-B", buildDir, ...defs]);
run(["--build", buildDir, "-j", String(Math.max(1, cpus().length))]);
if (cuda.build && process.env.GRAIL_ENGINE_KERNEL_TEST === "1") {
  run(["--build", buildDir, "--target", "grail_cuda_kernel_test"]);
}

const info = {
  addon: "grail_engine.node",
  cpu: { built: true },
  cuda: cuda.build
    ? {
        built: true,
        library: "libgrail_engine_cuda.so",
        archs: cuda.archs.map((a) => `sm_${a}`),
        home: cuda.home,
      }
    : { built: false, reason: cuda.reason },
};
writeFileSync(join(outDir, "engine-build.json"), `${JSON.stringify(info, null, 2)}\n`);
console.log(
  `engine-native: built cpu${cuda.build ? ` + cuda (${info.cuda.archs.join(", ")})` : ` only (${cuda.reason})`}`,
);
