// Zero-filled memory straight from the kernel (an anonymous mapping), in transparent huge pages where the kernel
// allows: for the large buffers the engine reads in streams (packed weights, the KV pool), 2 MiB pages cut the
// TLB misses and page faults of 4 KiB ones. Pages are zeroed by the kernel when first touched.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ir {

class AnonymousMemory {
 public:
  AnonymousMemory() = default;
  explicit AnonymousMemory(size_t bytes);  // throws std::bad_alloc
  ~AnonymousMemory();
  AnonymousMemory(AnonymousMemory&& other) noexcept;
  AnonymousMemory& operator=(AnonymousMemory&& other) noexcept;
  AnonymousMemory(const AnonymousMemory&) = delete;
  AnonymousMemory& operator=(const AnonymousMemory&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return bytes_; }

 private:
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace ir
