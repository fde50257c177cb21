#include "weights.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "bf16.h"

namespace grail {
namespace {

size_t dtype_size(DType d) { return d == DType::F32 ? 4 : 2; }

class FileReader {
 public:
  explicit FileReader(const TensorSource& src) : src_(src) {
    fd_ = ::open(src.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      throw EngineException("weights_unreadable", "cannot open " + src.path + " for tensor " + src.name + ": " +
                                                      std::strerror(errno) + "; check the model directory");
    }
  }
  ~FileReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  void read(void* dst, size_t bytes, uint64_t at) {
    auto* p = static_cast<char*>(dst);
    while (bytes > 0) {
      const size_t chunk = bytes < (size_t{1} << 30) ? bytes : (size_t{1} << 30);
      const ssize_t n = ::pread(fd_, p, chunk, static_cast<off_t>(at));
      if (n <= 0) {
        throw EngineException("weights_unreadable", "short read of tensor " + src_.name + " from " + src_.path +
                                                        (n < 0 ? std::string(": ") + std::strerror(errno) : "") +
                                                        "; the safetensors file is truncated or changed");
      }
      p += n;
      at += static_cast<uint64_t>(n);
      bytes -= static_cast<size_t>(n);
    }
  }

 private:
  const TensorSource& src_;
  int fd_ = -1;
};

// Converts in slabs so an fp32 tensor of several GB never needs a second full-size host buffer.
template <typename Sink>
void convert(const TensorSource& src, Sink sink) {
  FileReader file(src);
  const size_t esize = dtype_size(src.dtype);
  const size_t slab = size_t{1} << 22;  // elements per read
  std::vector<unsigned char> buf;
  for (uint64_t start = 0; start < src.numel; start += slab) {
    const size_t n = static_cast<size_t>(src.numel - start < slab ? src.numel - start : slab);
    buf.resize(n * esize);
    file.read(buf.data(), n * esize, src.offset + start * esize);
    for (size_t i = 0; i < n; ++i) {
      uint16_t bits;
      if (src.dtype == DType::BF16) {
        std::memcpy(&bits, &buf[i * 2], 2);
      } else if (src.dtype == DType::F16) {
        uint16_t h;
        std::memcpy(&h, &buf[i * 2], 2);
        bits = float_to_bf16_bits(fp16_bits_to_float(h));
      } else {
        float f;
        std::memcpy(&f, &buf[i * 4], 4);
        bits = float_to_bf16_bits(f);
      }
      // All exponent bits set: NaN or infinity. A corrupt checkpoint would otherwise prove NaN
      // logprobs without a word; fp32 values beyond the bf16 range end up here too.
      if ((bits & 0x7f80u) == 0x7f80u) {
        throw EngineException("non_finite_weights",
                              "tensor " + src.name + " holds " + ((bits & 0x007fu) != 0 ? "NaN" : "infinity") +
                                  " at element " + std::to_string(start + i) + " (" + src.path +
                                  "); the checkpoint is corrupt, so it is not loaded");
      }
      sink(static_cast<size_t>(start) + i, bits);
    }
  }
}

}  // namespace

void read_tensor_bf16(const TensorSource& src, uint16_t* dst) {
  convert(src, [dst](size_t i, uint16_t b) { dst[i] = b; });
}

void read_tensor_as_bf16_floats(const TensorSource& src, float* dst) {
  convert(src, [dst](size_t i, uint16_t b) { dst[i] = bf16_bits_to_float(b); });
}

}  // namespace grail
