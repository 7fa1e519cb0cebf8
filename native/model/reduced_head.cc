#include "reduced_head.h"

#include <cstring>

#include "../ggml_types.h"

namespace ir {

void ReducedHead::set(const Matrix& head, const std::vector<int32_t>& ids) {
  const size_t rb = row_bytes(head.type, head.cols);
  ids_ = ids;
  bytes_.resize(rb * ids.size());
  for (size_t i = 0; i < ids.size(); i++) std::memcpy(bytes_.data() + rb * i, head.data + rb * size_t(ids[i]), rb);
  matrix_ = Matrix{bytes_.data(), head.type, int64_t(ids.size()), head.cols};
}

}  // namespace ir
