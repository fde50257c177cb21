// Owning device allocation with a capacity: activations grow to the largest batch seen and stay.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "cuda_check.h"

namespace grail {
namespace cuda {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return ptr_; }
  size_t size() const { return size_; }
  // Device bytes held (the capacity, not the size in use): what the profiler's accounting adds up.
  size_t bytes() const { return capacity_ * sizeof(T); }

  // At least n elements; returns true when memory was (re)allocated.
  bool reserve(size_t n) {
    if (n <= capacity_) {
      size_ = n;
      return false;
    }
    release();
    CUDA_CHECK(cudaMalloc(&ptr_, n * sizeof(T) > 0 ? n * sizeof(T) : 1));
    capacity_ = size_ = n;
    return true;
  }
  // Exactly n elements (weights); returns true when memory was (re)allocated.
  bool resize_exact(size_t n) {
    if (n == capacity_ && ptr_ != nullptr) {
      size_ = n;
      return false;
    }
    release();
    CUDA_CHECK(cudaMalloc(&ptr_, n * sizeof(T) > 0 ? n * sizeof(T) : 1));
    capacity_ = size_ = n;
    return true;
  }
  void release() {
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
    capacity_ = size_ = 0;
  }

 private:
  T* ptr_ = nullptr;
  size_t capacity_ = 0;
  size_t size_ = 0;
};

}  // namespace cuda
}  // namespace grail
