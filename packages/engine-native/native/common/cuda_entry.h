// The C entry points of the CUDA backend shared object, resolved by the addon with dlsym so that the
// addon itself never links against CUDA.
#pragma once

#include <cstddef>

#include "engine.h"

extern "C" {
// Writes a JSON object {"devices":[{"index":0,"name":"…","totalMemoryBytes":N}],"error":"…"} into out.
// Returns the number of devices (0 when none or on error).
typedef int (*grail_cuda_probe_fn)(char* out, size_t outLen);
// Creates a backend on the given device; on failure returns null with a message in err.
typedef grail::Backend* (*grail_cuda_create_fn)(const grail::ModelConfig* cfg, int device, char* err, size_t errLen,
                                                char* code, size_t codeLen);
}
