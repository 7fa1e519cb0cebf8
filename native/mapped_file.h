// A read-only memory map of a model file. Weights are used in place, never copied.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ir {

// Drops this process's mapping of the whole pages inside [begin, begin + bytes) of a file mapping: they stay
// readable (a touch faults them back in from the page cache) but no longer count in the process's resident memory.
// For weights that a packed copy replaces, or that only a few rows of are read (a float head with an estimate copy).
void release_pages(const void* begin, size_t bytes);

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws std::runtime_error naming the file
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ir
