#pragma once

#include <memory>

#include "../common/engine.h"

namespace grail {

std::unique_ptr<Backend> make_cpu_backend(const ModelConfig& cfg, int threads);

}  // namespace grail
