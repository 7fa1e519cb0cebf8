#include "reduced_head.h"

#include <cstring>

#include "../ggml_types.h"

namespace ir {

void ReducedHead::set(const Matrix& head, const std::vector<int32_t>& ids, ThreadPool& pool) {
  const size_t rb = row_bytes(head.type, head.cols);
  ids_ = ids;
  bytes_.resize(rb * ids.size());
  for (size_t i = 0; i < ids.size(); i++) read_row(head, ids[i], bytes_.data() + rb * i);
  matrix_ = Matrix{bytes_.data(), head.type, int64_t(ids.size()), head.cols};
  packed_ = PackedWeights{};
  if (!ids.empty()) packed_.attach(matrix_, pool);
}

}  // namespace ir
